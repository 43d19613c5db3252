import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { thrown } from '@proxy/connector-test-suite';
import { ConnectorError, ProxyResolveTimeoutError } from './errors.js';
import { getFactory, isResolved } from './proxy.js';
import { deserialize, serialize } from './serialize.js';
import { Store } from './store.js';
import type { StoreFactory } from './store-factory.js';
import { getStore, unregisterStore } from './store-registry.js';
import { fetchSync, stopSyncBridge } from './sync-bridge.js';

// A connector without getSync, loaded by absolute path in the bridge worker.
const { AsyncDirConnector } = require('./fixtures/async-dir-connector.cjs');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-bridge-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
afterAll(() => stopSyncBridge());

test('first use of an unresolved proxy fetches synchronously through the worker bridge', async () => {
  const store = new Store('bridge-store', new AsyncDirConnector({ dir }), { cacheSize: 0 });
  expect(store.connector.getSync).toBeUndefined();
  const value = { big: Buffer.alloc(1024 * 1024, 7), label: 'bridged' };
  const copy = deserialize(serialize(await store.proxy(value))) as typeof value;
  expect(isResolved(copy)).toBe(false);
  expect(copy.label).toBe('bridged');
  expect(copy.big.length).toBe(1024 * 1024);
  expect(copy.big[12345]).toBe(7);
  const rebuilt = getStore('bridge-store');
  expect(rebuilt).toBeDefined();
  unregisterStore('bridge-store');
});

test('fetchSync returns the stored bytes and null for a missing key', async () => {
  const connector = new AsyncDirConnector({ dir });
  const key = await connector.put(Buffer.from('abc'));
  expect(Buffer.from(fetchSync(connector.config(), key, 5000)!).toString()).toBe('abc');
  expect(fetchSync(connector.config(), { name: 'missing' }, 5000)).toBeNull();
});

test('a slow fetch times out with a typed error naming store and key, and the bridge recovers', async () => {
  const slow = new AsyncDirConnector({ dir, delayMs: 1500 });
  const key = await slow.put(Buffer.from('late'));
  const started = Date.now();
  expect(() => fetchSync(slow.config(), key, 200, 'slow-store')).toThrow(ProxyResolveTimeoutError);
  expect(Date.now() - started).toBeLessThan(1200);
  const error = thrown(() => fetchSync(slow.config(), key, 100, 'slow-store'));
  expect(error).toBeInstanceOf(ProxyResolveTimeoutError);
  expect((error as Error).message).toContain('"slow-store"');
  expect((error as Error).message).toContain(key.name);
  expect((error as Error).message).toContain('within 100 ms');
  const fast = new AsyncDirConnector({ dir });
  expect(Buffer.from(fetchSync(fast.config(), key, 5000)!).toString()).toBe('late');
});

test("a proxy's first synchronous use through a store with a small syncTimeoutMs throws ProxyResolveTimeoutError naming store and key", async () => {
  const store = new Store('slow-proxy-store', new AsyncDirConnector({ dir, delayMs: 2000 }), {
    syncTimeoutMs: 250,
    cacheSize: 0,
  });
  try {
    const p = await store.proxy({ label: 'late' }, { populateTarget: false });
    const key = (getFactory(p) as StoreFactory).key as { name: string };
    const started = Date.now();
    const error = thrown(() => p.label);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(ProxyResolveTimeoutError);
    expect((error as Error).message).toContain('store "slow-proxy-store"');
    expect((error as Error).message).toContain(key.name);
    expect((error as Error).message).toContain('within 250 ms');
    expect(elapsed).toBeGreaterThanOrEqual(240);
    expect(elapsed).toBeLessThan(1500);
    expect(isResolved(p)).toBe(false);
  } finally {
    await store.close();
  }
});

test('a connector error in the worker becomes ConnectorError with the cause', async () => {
  const broken = new AsyncDirConnector({ dir, failGet: true });
  try {
    fetchSync(broken.config(), { name: 'x' }, 5000, 'broken');
    throw new Error('unreachable');
  } catch (error) {
    expect(ConnectorError.is(error)).toBe(true);
    expect((error as Error).message).toMatch(/broken.*disk unplugged/);
    expect(((error as Error).cause as { code?: string }).code).toBe('EIO');
  }
});

test('a config naming a missing package fails with the package name', () => {
  expect(() =>
    fetchSync({ module: '@proxy/no-such-connector', type: 'X', options: {} }, { k: 'v' }, 5000),
  ).toThrow(/@proxy\/no-such-connector/);
});

test('waitMs: waits for a key that appears later, null when it never does', async () => {
  const connector = new AsyncDirConnector({ dir });
  const name = 'later-key';
  // This thread blocks in Atomics.wait, so its own timers cannot fire: another process writes.
  const { spawn } = await import('node:child_process');
  const writer = spawn(process.execPath, [
    '-e',
    `setTimeout(() => require('fs').writeFileSync(${JSON.stringify(path.join(dir, name))}, 'arrived'), 150)`,
  ]);
  const data = fetchSync(connector.config(), { name }, 5000, 'wait-store', { waitMs: 5000 });
  expect(Buffer.from(data!).toString()).toBe('arrived');
  expect(
    fetchSync(connector.config(), { name: 'never' }, 5000, 'wait-store', { waitMs: 150 }),
  ).toBeNull();
  await new Promise((r) => writer.once('exit', r));
});

test('bytes in memory the connector does not own are copied once, a top-level typed array aligned so it is viewed, not copied again', async () => {
  const store = new Store('pooled-store', new AsyncDirConnector({ dir, pooled: true }), {
    cacheSize: 0,
  });
  try {
    // Elements at offset 10 ('CB\n', tag, 5-byte head) and 7 (2-byte head) of the frame.
    const floats = Float64Array.from({ length: 10_000 }, (_, i) => i * 1.5);
    const ints = Int32Array.from({ length: 50 }, (_, i) => -i);
    const keys = await Promise.all([
      store.put(floats),
      store.put(ints),
      store.put(Buffer.from('raw bytes')),
      store.put({ nested: new Float64Array([1, 2, 3]), s: 'x' }),
    ]);
    const gotFloats = store.getSync<Float64Array>(keys[0]!)!;
    expect(gotFloats).toBeInstanceOf(Float64Array);
    expect([...gotFloats]).toEqual([...floats]);
    expect(gotFloats.byteOffset % 8).toBe(0);
    // A view into the transferred frame (header included), not a fresh copy of the elements.
    expect(gotFloats.buffer.byteLength).toBeGreaterThan(gotFloats.byteLength);
    const gotInts = store.getSync<Int32Array>(keys[1]!)!;
    expect([...gotInts]).toEqual([...ints]);
    expect(gotInts.byteOffset % 4).toBe(0);
    expect(gotInts.buffer.byteLength).toBeGreaterThan(gotInts.byteLength);
    expect(Buffer.from(store.getSync<Buffer>(keys[2]!)!).toString()).toBe('raw bytes');
    const obj = store.getSync<{ nested: Float64Array; s: string }>(keys[3]!)!;
    expect([...obj.nested]).toEqual([1, 2, 3]);
    expect(obj.s).toBe('x');
  } finally {
    await store.close();
  }
});

test.each([
  ['uint16', 'Uint16Array'],
  ['arraybuffer', 'ArrayBuffer'],
  ['dataview', 'DataView'],
  ['string', 'string'],
])(
  'a connector whose get returns %s instead of a Uint8Array is refused with a ConnectorError, not wrong bytes',
  async (returnType, typeName) => {
    const writer = new AsyncDirConnector({ dir });
    const key = await writer.put(serialize({ label: 'bytes' }));
    const store = new Store(
      `wrong-type-${returnType}`,
      new AsyncDirConnector({ dir, returnType }),
      {
        cacheSize: 0,
      },
    );
    try {
      const error = thrown(() => store.getSync(key));
      expect(ConnectorError.is(error)).toBe(true);
      const message = (error as Error).message;
      expect(message).toContain(`Store "wrong-type-${returnType}"`);
      expect(message).toContain('#AsyncDirConnector');
      expect(message).toContain(key.name);
      expect(message).toContain(`AsyncDirConnector.get returned a value of type ${typeName}`);
      expect(message).toContain('connectors must return a Uint8Array');
      expect(((error as Error).cause as Error).name).toBe('TypeError');
      // The bridge keeps serving well-behaved connectors.
      const good = new Store(`right-type-${returnType}`, writer, { cacheSize: 0 });
      expect(good.getSync(key)).toEqual({ label: 'bytes' });
    } finally {
      await store.close();
    }
  },
);
