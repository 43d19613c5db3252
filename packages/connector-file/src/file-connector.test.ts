import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  ConnectorError,
  FutureTimeoutError,
  InvalidKeyError,
  resolveSync,
  Store,
} from '@proxy/core';
import { FileConnector } from './file-connector.js';
import { removeTempDirs, tempDir } from './test-dirs.js';

afterAll(() => removeTempDirs());

const opened: FileConnector[] = [];
function connector(
  options: Partial<ConstructorParameters<typeof FileConnector>[0]> = {},
): FileConnector {
  const c = new FileConnector({ storeDir: path.join(tempDir(), 'store'), ...options });
  opened.push(c);
  return c;
}
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close();
});

const entries = (dir: string) => fs.readdirSync(dir).sort();
const visible = (dir: string) => entries(dir).filter((n) => !n.startsWith('.'));

describe('layout', () => {
  test.each([
    ['small (blocking path)', 100],
    ['large (thread-pool path)', 200_000],
  ])(
    '%s: <uuid> holds the bytes, <uuid>.ready is an empty file, no temp file remains',
    async (_label, size) => {
      const c = connector();
      const data = Buffer.alloc(size, 'abc');
      const key = await c.put(data);
      expect(Object.keys(key)).toEqual(['filename']);
      expect(key.filename).toMatch(/^[0-9a-f-]{36}$/);
      expect(visible(c.storeDir)).toEqual([key.filename, `${key.filename}.ready`]);
      expect(Buffer.compare(fs.readFileSync(path.join(c.storeDir, key.filename)), data)).toBe(0);
      const marker = fs.statSync(path.join(c.storeDir, `${key.filename}.ready`));
      expect(marker.isFile()).toBe(true);
      expect(marker.size).toBe(0);
      // Besides the object, only the shared empty file markers are linked to.
      expect(entries(c.storeDir).filter((n) => n.startsWith('.'))).toEqual(['.tmp-ready']);
      await c.evict(key);
      expect(visible(c.storeDir)).toEqual([]);
    },
  );

  test('reads objects written the way Python ProxyStore writes them (data in place, then marker)', async () => {
    const c = connector();
    const filename = randomUUID();
    const file = path.join(c.storeDir, filename);
    fs.writeFileSync(file, 'BS\nhalf');
    expect(await c.exists({ filename })).toBe(false);
    expect(await c.get({ filename })).toBeNull();
    expect(c.getSync({ filename })).toBeNull();
    fs.appendFileSync(file, ' and the rest');
    fs.writeFileSync(`${file}.ready`, '');
    expect(await c.exists({ filename })).toBe(true);
    expect(Buffer.from((await c.get({ filename }))!).toString()).toBe('BS\nhalf and the rest');
    expect(Buffer.from(c.getSync({ filename })!).toString()).toBe('BS\nhalf and the rest');
    const store = new Store(`py-${randomUUID()}`, c, { cacheSize: 0 });
    expect(Buffer.from((await store.get<Uint8Array>({ filename }))!).toString()).toBe(
      'half and the rest',
    );
  });

  test('uppercase uuids (as another writer may produce) are accepted', async () => {
    const c = connector();
    const key = { filename: randomUUID().toUpperCase() };
    await c.set(key, Buffer.from('upper'));
    expect(Buffer.from((await c.get(key))!).toString()).toBe('upper');
  });

  test('markers still appear when the shared link source is removed by another process', async () => {
    const c = connector();
    const first = await c.put(Buffer.from('one'));
    fs.unlinkSync(path.join(c.storeDir, '.tmp-ready'));
    const second = await c.put(Buffer.alloc(100_000));
    fs.unlinkSync(path.join(c.storeDir, '.tmp-ready'));
    const third = await c.put(Buffer.from('three'));
    for (const key of [first, second, third]) expect(await c.exists(key)).toBe(true);
    expect(fs.statSync(path.join(c.storeDir, `${third.filename}.ready`)).size).toBe(0);
  });

  test('set replaces an object atomically and keeps one marker', async () => {
    const c = connector();
    const key = await c.newKey();
    await c.set(key, Buffer.alloc(300_000, 1));
    await c.set(key, Buffer.from('short'));
    expect(Buffer.from((await c.get(key))!).toString()).toBe('short');
    expect(visible(c.storeDir)).toEqual([key.filename, `${key.filename}.ready`]);
  });
});

describe('keys', () => {
  test('a key escaping the directory is rejected before any disk access', async () => {
    const c = connector();
    const outside = path.join(path.dirname(c.storeDir), 'secret');
    fs.writeFileSync(outside, 'do not read');
    fs.writeFileSync(`${outside}.ready`, '');
    // Even with the directory gone, a bad key must be an InvalidKeyError, not an I/O error.
    fs.rmSync(c.storeDir, { recursive: true });
    for (const filename of [
      '../secret',
      outside,
      'a/b',
      '..',
      `${randomUUID()}\0`,
      `${randomUUID()}.ready`,
    ]) {
      const key = { filename };
      await expect(c.get(key)).rejects.toBeInstanceOf(InvalidKeyError);
      expect(() => c.getSync(key)).toThrow(InvalidKeyError);
      await expect(c.exists(key)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(c.evict(key)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(c.set(key, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(c.waitFor(key, { timeoutMs: 10 })).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(c.getBatch([{ filename: randomUUID() }, key])).rejects.toBeInstanceOf(
        InvalidKeyError,
      );
    }
    expect(fs.readFileSync(outside, 'utf8')).toBe('do not read');
  });

  test('the message names the bad key', async () => {
    const c = connector();
    await expect(c.get({ filename: '../etc/passwd' })).rejects.toThrow(/\.\.\/etc\/passwd/);
  });
});

describe('getSync and proxies', () => {
  test('getSync reads what put wrote; a proxy resolves without the worker bridge', async () => {
    const c = connector();
    const key = await c.put(Buffer.from('sync bytes'));
    expect(Buffer.from(c.getSync(key)!).toString()).toBe('sync bytes');
    expect(c.getSync({ filename: randomUUID() })).toBeNull();
    const store = new Store(`sync-${randomUUID()}`, c, { cacheSize: 0, syncTimeoutMs: 1 });
    const proxy = store.proxyFromKey<{ n: number }>(await store.put({ n: 42 }));
    // A 1 ms bridge timeout would fail if the bridge were used; getSync makes it moot.
    expect(resolveSync(proxy).n).toBe(42);
  });

  test('returned buffers own their memory (not slices of the shared pool)', async () => {
    const c = connector();
    const key = await c.put(Buffer.from('tiny'));
    for (const got of [await c.get(key), c.getSync(key)]) {
      expect(got!.byteOffset).toBe(0);
      expect(got!.buffer.byteLength).toBe(4);
    }
  });
});

describe('batches', () => {
  test('putBatch/getBatch/evictBatch over more items than the concurrency limit', async () => {
    const c = connector({ batchConcurrency: 3 });
    const items = Array.from({ length: 20 }, (_, i) => Buffer.from(`item ${i}`));
    const keys = await c.putBatch(items);
    const got = await c.getBatch(keys);
    expect(got.map((g) => Buffer.from(g!).toString())).toEqual(items.map((i) => i.toString()));
    await c.evictBatch(keys);
    expect(visible(c.storeDir)).toEqual([]);
  });
});

describe('waitFor', () => {
  test('wakes on the marker written by another connector instance (fs.watch), long before a poll', async () => {
    const reader = connector({ maxPollMs: 60_000 });
    const writer = new FileConnector({ storeDir: reader.storeDir });
    const key = await reader.newKey();
    const waiting = reader.waitFor(key, { timeoutMs: 10_000 });
    // Polls back off 10, 20, 40 … ms: they run at 0, 20, 60, … 1260, 2540 ms. Setting at 1300 ms
    // leaves 1.2 s until the next poll, so a fast wake-up can only come from fs.watch.
    await new Promise((r) => setTimeout(r, 1300));
    const started = performance.now();
    await writer.set(key, Buffer.from('now'));
    await waiting;
    expect(performance.now() - started).toBeLessThan(600);
  });

  test('with watch: false, polling alone notices the marker', async () => {
    const c = connector({ watch: false, maxPollMs: 50 });
    expect(c.config().options).toMatchObject({ watch: false, maxPollMs: 50 });
    const key = await c.newKey();
    const waiting = c.waitFor(key, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 120));
    // Written behind the connector's back, as another machine would.
    fs.writeFileSync(path.join(c.storeDir, key.filename), 'remote');
    fs.writeFileSync(path.join(c.storeDir, `${key.filename}.ready`), '');
    await expect(waiting).resolves.toBeUndefined();
  });

  test('an abort rejects with the signal reason; an aborted signal rejects at once', async () => {
    const c = connector();
    const key = await c.newKey();
    const controller = new AbortController();
    const waiting = c.waitFor(key, { signal: controller.signal });
    const reason = new Error('no longer needed');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(c.waitFor(key, { signal: controller.signal })).rejects.toBe(reason);
  });

  test('a timeout rejects with FutureTimeoutError naming the key', async () => {
    const c = connector();
    const key = await c.newKey();
    const error = await c.waitFor(key, { timeoutMs: 30 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FutureTimeoutError);
    expect((error as Error).message).toContain(key.filename);
  });

  test('close() rejects pending waits with ConnectorError', async () => {
    const c = connector();
    const waiting = expect(c.waitFor(await c.newKey())).rejects.toBeInstanceOf(ConnectorError);
    await c.close();
    await waiting;
  });

  test('many concurrent waiters on different keys all wake', async () => {
    const c = connector();
    const keys = await Promise.all(Array.from({ length: 20 }, () => c.newKey()));
    const waits = keys.map((k) => c.waitFor(k, { timeoutMs: 10_000 }));
    for (const k of keys) await c.set(k, Buffer.from(k.filename));
    await expect(Promise.all(waits)).resolves.toHaveLength(20);
  });
});

describe('close and clear', () => {
  test('default: close deletes nothing', async () => {
    const c = connector();
    const key = await c.put(Buffer.from('keep'));
    await c.close();
    expect(visible(c.storeDir)).toEqual([key.filename, `${key.filename}.ready`]);
  });

  test('clear: true deletes only what this instance wrote, and its directory if it made it and it is empty', async () => {
    const mine = connector({ clear: true });
    const other = new FileConnector({ storeDir: mine.storeDir });
    const theirs = await other.put(Buffer.from('theirs'));
    const ours = await mine.put(Buffer.from('ours'));
    const evicted = await mine.put(Buffer.from('gone already'));
    await mine.evict(evicted);
    await mine.close();
    expect(await other.exists(ours)).toBe(false);
    expect(await other.exists(theirs)).toBe(true);
    await other.evict(theirs);
    const again = connector({ clear: true });
    await again.put(Buffer.from('x'));
    await again.close();
    expect(fs.existsSync(again.storeDir)).toBe(false);
  });

  test("clear: 'all' removes every object, marker and temp file but leaves foreign files", async () => {
    const c = connector();
    const other = new FileConnector({ storeDir: c.storeDir });
    await other.put(Buffer.from('theirs'));
    await c.put(Buffer.from('ours'));
    fs.writeFileSync(path.join(c.storeDir, `.tmp-${randomUUID()}.dead`), 'stray from a crash');
    fs.writeFileSync(path.join(c.storeDir, 'notes.txt'), 'not ours');
    await c.close({ clear: 'all' });
    expect(entries(c.storeDir)).toEqual(['notes.txt']);
  });

  test('a connector rebuilt from config() never clears (clear is not carried)', async () => {
    const c = connector({ clear: 'all', fsync: true, maxPollMs: 200 });
    const config = c.config();
    expect(config).toEqual({
      module: '@proxy/connector-file',
      type: 'FileConnector',
      options: { storeDir: c.storeDir, fsync: true, maxPollMs: 200 },
    });
    const key = await c.put(Buffer.from('durable'));
    const rebuilt = FileConnector.fromConfig(JSON.parse(JSON.stringify(config.options)));
    expect(rebuilt.fsync).toBe(true);
    await rebuilt.close();
    expect(await c.exists(key)).toBe(true);
  });

  test('close is idempotent and the connector stays usable afterwards', async () => {
    const c = connector();
    await c.close();
    await c.close();
    const key = await c.put(Buffer.from('after close'));
    expect(Buffer.from((await c.get(key))!).toString()).toBe('after close');
  });

  test('await using disposes', async () => {
    const dir = path.join(tempDir(), 'disposed');
    {
      await using c = new FileConnector({ storeDir: dir, clear: true });
      await c.put(Buffer.from('temporary'));
    }
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('options', () => {
  test.each([
    [{ storeDir: '' }, /storeDir/],
    [{ storeDir: 'a\0b' }, /storeDir/],
    [{ storeDir: '/tmp/x', clear: 'yes' }, /clear/],
    [{ storeDir: '/tmp/x', maxPollMs: 0 }, /maxPollMs/],
    [{ storeDir: '/tmp/x', batchConcurrency: 1.5 }, /batchConcurrency/],
    [{ storeDir: '/tmp/x', syncBelowBytes: -1 }, /syncBelowBytes/],
  ])('%j is rejected with a TypeError', (options, message) => {
    expect(() => new FileConnector(options as never)).toThrow(TypeError);
    expect(() => new FileConnector(options as never)).toThrow(message);
  });

  test('relative storeDir resolves against the working directory; createParents makes the chain', async () => {
    const base = tempDir();
    const deep = path.join(base, 'a', 'b', 'c');
    const c = connector({ storeDir: path.relative(process.cwd(), deep), createParents: true });
    expect(c.storeDir).toBe(deep);
    expect(fs.statSync(deep).isDirectory()).toBe(true);
  });

  test('fsync and syncBelowBytes: 0 (everything in the thread pool) still round-trip', async () => {
    const c = connector({ fsync: true, syncBelowBytes: 0 });
    for (const size of [0, 10, 100_000]) {
      const key = await c.put(Buffer.alloc(size, 7));
      expect((await c.get(key))!.byteLength).toBe(size);
      expect(c.getSync(key)!.byteLength).toBe(size);
    }
  });
});

describe('putParts (zero-copy framed bytes)', () => {
  test.each([
    ['small (blocking path)', 100],
    ['large (thread-pool path)', 300_000],
  ])('%s: the file holds the pieces back to back', async (_label, size) => {
    const c = connector();
    const head = Buffer.from('BS\n');
    const body = Buffer.alloc(size, 'xyz');
    const key = await c.putParts([head, body, Buffer.alloc(0)]);
    expect(
      Buffer.compare(
        fs.readFileSync(path.join(c.storeDir, key.filename)),
        Buffer.concat([head, body]),
      ),
    ).toBe(0);
    expect(await c.exists(key)).toBe(true);
  });

  test('Store.put of a Buffer goes through putParts and reads back identical, Python layout', async () => {
    const c = connector();
    const store = new Store('parts-file', c);
    const data = Buffer.alloc(2 * 1024 * 1024, 5);
    const key = (await store.put(data)) as { filename: string };
    const onDisk = fs.readFileSync(path.join(c.storeDir, key.filename));
    expect(onDisk.subarray(0, 3).toString()).toBe('BS\n');
    expect(Buffer.compare(onDisk.subarray(3), data)).toBe(0);
    expect(Buffer.compare((await store.get(key)) as Buffer, data)).toBe(0);
  });
});
