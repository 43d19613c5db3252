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
import type { FileKey } from './file-key.js';
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

/** Fake only the timers (the poll, the timeout); fs callbacks and promises stay real. */
const ONLY_TIMERS = {
  doNotFake: [
    'nextTick',
    'setImmediate',
    'clearImmediate',
    'queueMicrotask',
    'Date',
    'hrtime',
    'performance',
  ] as const,
} as Parameters<typeof jest.useFakeTimers>[0];

/**
 * Observes (and passes through) the marker checks `waitFor` makes with fs.access, so a test can
 * write the marker only after the first check found nothing, and count the checks.
 */
function watchChecks() {
  const original = fs.access;
  let calls = 0;
  let misses = 0;
  let inFlight = 0;
  const listeners: (() => void)[] = [];
  const notify = () => {
    for (const l of listeners.splice(0)) l();
  };
  const spy = jest.spyOn(fs, 'access').mockImplementation(((
    file: fs.PathLike,
    callback: fs.NoParamCallback,
  ) => {
    calls++;
    inFlight++;
    original(file, (error) => {
      inFlight--;
      if (error?.code === 'ENOENT') misses++;
      callback(error);
      notify();
    });
  }) as typeof fs.access);
  const until = (done: () => boolean): Promise<void> =>
    done() ? Promise.resolve() : new Promise((r) => listeners.push(() => until(done).then(r)));
  return {
    calls: () => calls,
    missed: (n: number) => until(() => misses >= n),
    settled: () => until(() => inFlight === 0),
    restore: () => spy.mockRestore(),
  };
}

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

  test('a key whose filename changes between reads (a getter) cannot slip a path past the check', async () => {
    const c = connector();
    const outside = path.join(path.dirname(c.storeDir), 'secret');
    fs.writeFileSync(outside, 'do not read');
    fs.writeFileSync(`${outside}.ready`, '');
    // Reads as a uuid the first time, as a path out of the directory afterwards.
    const shifty = () => {
      let reads = 0;
      return Object.defineProperty({}, 'filename', {
        enumerable: true,
        get: () => (reads++ === 0 ? randomUUID() : '../secret'),
      }) as FileKey;
    };
    expect(await c.get(shifty())).toBeNull();
    expect(c.getSync(shifty())).toBeNull();
    expect(await c.exists(shifty())).toBe(false);
    expect(await c.getBatch([shifty()])).toEqual([null]);
    await c.evict(shifty());
    await c.evictBatch([shifty()]);
    await c.set(shifty(), Buffer.from('overwritten?'));
    await expect(c.waitFor(shifty(), { timeoutMs: 1 })).rejects.toBeInstanceOf(FutureTimeoutError);
    expect(fs.readFileSync(outside, 'utf8')).toBe('do not read');
    expect(fs.existsSync(`${outside}.ready`)).toBe(true);
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

describe('putBatch failures', () => {
  test('a batch that fails part-way removes the objects it wrote (the caller never got their keys)', async () => {
    const c = connector();
    const error = await c
      .putBatch([Buffer.from('small'), 'not bytes' as never, Buffer.alloc(200_000, 1)])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/must be a Uint8Array/);
    expect(visible(c.storeDir)).toEqual([]);
  });
});

describe('waitFor', () => {
  test('wakes on the marker written by another connector instance through fs.watch, with every poll frozen', async () => {
    const reader = connector();
    const writer = new FileConnector({ storeDir: reader.storeDir });
    const key = await reader.newKey();
    const checks = watchChecks();
    // Fake timers freeze the poll: once the check at the start has found nothing, only the
    // fs.watch event can wake the waiter.
    jest.useFakeTimers(ONLY_TIMERS);
    try {
      const waiting = reader.waitFor(key);
      await checks.missed(1);
      await writer.set(key, Buffer.from('now'));
      await waiting;
    } finally {
      jest.useRealTimers();
      checks.restore();
    }
  });

  test('with watch: false, the backed-off poll alone notices the marker (no busy loop)', async () => {
    const c = connector({ watch: false, maxPollMs: 1000 });
    expect(c.config().options).toMatchObject({ watch: false });
    const key = await c.newKey();
    const checks = watchChecks();
    jest.useFakeTimers(ONLY_TIMERS);
    try {
      let woke = false;
      const waiting = c.waitFor(key).then(() => {
        woke = true;
      });
      await checks.missed(1);
      // Written behind the connector's back, as another machine would: nothing watches.
      fs.writeFileSync(path.join(c.storeDir, key.filename), 'remote');
      fs.writeFileSync(path.join(c.storeDir, `${key.filename}.ready`), '');
      await new Promise((r) => setImmediate(r));
      expect(woke).toBe(false);
      // The first poll after the start is due at 20 ms.
      await jest.advanceTimersByTimeAsync(20);
      await waiting;
      expect(checks.calls()).toBe(2);
      // Ten seconds of waiting on a missing key: polls back off to maxPollMs (10, 20, 40 … 1000 ms).
      const other = await c.newKey();
      const pending = c.waitFor(other, { timeoutMs: 10_000 });
      const failed = expect(pending).rejects.toBeInstanceOf(FutureTimeoutError);
      for (let t = 0; t < 10_000; t += 250) {
        await jest.advanceTimersByTimeAsync(250);
        await checks.settled();
      }
      await failed;
      expect(checks.calls() - 2).toBeGreaterThan(8);
      expect(checks.calls() - 2).toBeLessThan(20);
    } finally {
      jest.useRealTimers();
      checks.restore();
    }
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

describe('options from a received config', () => {
  test("fromConfig ignores clear and createParents: fromConfig({ clear: 'all' }).close() deletes nothing", async () => {
    const producer = connector();
    const key = await producer.put(Buffer.from('producer data'));
    fs.writeFileSync(path.join(producer.storeDir, `.tmp-${randomUUID()}.other`), 'in progress');
    const before = entries(producer.storeDir);
    for (const clear of ['all', true] as const) {
      const rebuilt = FileConnector.fromConfig({ storeDir: producer.storeDir, clear });
      expect(rebuilt.clear).toBe(false);
      await rebuilt.put(Buffer.from('written by the rebuilt connector'));
      await rebuilt.evictBatch([]);
      await rebuilt.close();
    }
    expect(entries(producer.storeDir).filter((n) => before.includes(n))).toEqual(before);
    expect(Buffer.from((await producer.get(key))!).toString()).toBe('producer data');
    // createParents from a config does not create a missing chain of directories.
    const missing = path.join(tempDir(), 'not', 'mounted', 'store');
    const error = (() => {
      try {
        FileConnector.fromConfig({ storeDir: missing, createParents: true });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConnectorError);
    expect(fs.existsSync(path.dirname(missing))).toBe(false);
  });
});

describe('waitFor timeoutMs bounds', () => {
  test('a timeoutMs above 2^31-1 ms still times out, at the right time (chained timers)', async () => {
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'],
    });
    try {
      const c = connector({ watch: false, maxPollMs: 2 ** 31 - 1 });
      const key = await c.newKey();
      let outcome: unknown = 'pending';
      void c.waitFor(key, { timeoutMs: 2 ** 31 + 5000 }).then(
        () => {
          outcome = 'resolved';
        },
        (e: unknown) => {
          outcome = e;
        },
      );
      await jest.advanceTimersByTimeAsync(2 ** 31 - 1);
      expect(outcome).toBe('pending');
      await jest.advanceTimersByTimeAsync(4000);
      expect(outcome).toBe('pending');
      await jest.advanceTimersByTimeAsync(1001);
      expect(outcome).toBeInstanceOf(FutureTimeoutError);
    } finally {
      jest.useRealTimers();
    }
  });
});
