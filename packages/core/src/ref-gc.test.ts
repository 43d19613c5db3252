// Garbage collection of owned proxies. These run in a child `node --expose-gc` process on
// the built code (src/fixtures/ownership-child.mjs): jest's own module registry and
// instrumentation keep references around, and forcing GC needs the flag at start-up.
import { describeEachBackend } from './fixtures/backends.js';
import { assertBuilt, runChild } from './fixtures/run-child.js';

describeEachBackend('owned proxies and garbage collection', (backend) => {
  afterEach(async () => {
    expect(await backend().objectCount()).toBe(0);
  });

  test('10,000 owned proxies dropped without disposal are all evicted', async () => {
    const b = backend();
    assertBuilt(b.connectorDist);
    const store = b.newStore();
    const result = await runChild(
      {
        mode: 'gc-drop',
        count: 10_000,
        timeoutMs: 60_000,
        storeConfig: store.config(),
        connectorDist: b.connectorDist,
      },
      { exposeGc: true, timeoutMs: 120_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.replies).toEqual([{ before: 10_000, after: 0, ok: true }]);
  }, 150_000);

  test('a live borrow keeps its owner alive; once released or dropped, the data goes', async () => {
    const b = backend();
    assertBuilt(b.connectorDist);
    const store = b.newStore();
    const result = await runChild(
      {
        mode: 'gc-borrow',
        timeoutMs: 20_000,
        storeConfig: store.config(),
        connectorDist: b.connectorDist,
      },
      { exposeGc: true },
    );
    expect(result.stderr).toBe('');
    expect(result.replies).toEqual([
      {
        existsWhileBorrowed: true,
        readable: true,
        evictedAfterRelease: true,
        evictedAfterDrop: true,
      },
    ]);
  });
});
