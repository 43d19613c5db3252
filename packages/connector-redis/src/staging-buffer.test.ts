import { StagingBuffer } from './staging-buffer.js';

test('joins pieces, reuses its memory when free, uses fresh memory when busy or too large', async () => {
  const staging = new StagingBuffer(1024, 50);
  const seen: Buffer[] = [];
  const first = await staging.with([Buffer.from('ab'), Buffer.from('cd')], async (joined) => {
    seen.push(joined);
    // Busy: a concurrent join must not share the staging memory.
    await staging.with([Buffer.from('xy')], async (inner) => {
      seen.push(inner);
      expect(inner.buffer).not.toBe(joined.buffer);
    });
    return joined.toString();
  });
  expect(first).toBe('abcd');
  await staging.with([Buffer.from('efgh')], async (joined) => {
    expect(joined.buffer).toBe(seen[0]!.buffer);
    expect(joined.toString()).toBe('efgh');
  });
  await staging.with([Buffer.alloc(2000)], async (joined) => {
    expect(joined.buffer).not.toBe(seen[0]!.buffer);
  });
  expect(staging.heldBytes).toBeGreaterThan(0);
  await new Promise((r) => setTimeout(r, 120));
  expect(staging.heldBytes).toBe(0);
});
