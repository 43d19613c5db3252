import type { ConnectorKey } from './connector.js';
import { ProxyStoreError } from './errors.js';
import { SimpleFactory } from './factory.js';
import { describeEachBackend } from './fixtures/backends.js';
import { assertBuilt, runChild } from './fixtures/run-child.js';
import { ContextLifetime, LeaseLifetime, StaticLifetime } from './lifetimes.js';
import { createProxy, getFactory } from './proxy.js';
import { dispose } from './ref.js';
import type { Store } from './store.js';
import type { StoreFactory } from './store-factory.js';

/** Polls `check` (a lease expiring, a TTL running out) until it holds or `timeoutMs` passes. */
async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function keyOf(proxy: unknown): ConnectorKey {
  return (getFactory(proxy) as StoreFactory).key;
}

describeEachBackend('lifetimes', (backend) => {
  let store: Store;
  beforeEach(() => {
    store = backend().newStore();
  });
  afterEach(async () => {
    expect(await backend().objectCount()).toBe(0);
  });

  test('ContextLifetime evicts put, putBatch, proxy and addProxy keys when it ends', async () => {
    let keys: ConnectorKey[];
    let lifetime: ContextLifetime;
    {
      await using ctx = new ContextLifetime(store, { name: 'ctx' });
      lifetime = ctx;
      const a = await store.put({ a: 1 }, { lifetime: ctx });
      const batch = await store.putBatch([1, 2], { lifetime: ctx });
      const p = await store.proxy({ p: 1 }, { lifetime: ctx });
      const q = await store.proxy({ q: 1 });
      ctx.addProxy(q);
      keys = [a, ...batch, keyOf(p), keyOf(q)];
      expect(ctx.size).toBe(5);
      for (const key of keys) expect(await store.exists(key)).toBe(true);
    }
    expect(lifetime.done()).toBe(true);
    for (const key of keys) expect(await store.exists(key)).toBe(false);
    await lifetime.close(); // idempotent
  });

  test('a key added after the end is evicted at once and the add fails', async () => {
    const ctx = new ContextLifetime(store);
    ctx[Symbol.dispose](); // `using`: starts the eviction
    await ctx.close();
    const put = store.put({ late: true }, { lifetime: ctx });
    await expect(put).rejects.toThrow(ProxyStoreError);
    await expect(put).rejects.toThrow(/has ended/);
    await eventually(async () => (await backend().objectCount()) === 0);
  });

  test('lifetimes refuse ownership proxies and proxies not made by a store', async () => {
    const ctx = new ContextLifetime(store);
    const owned = await store.ownedProxy({ a: 1 });
    expect(() => ctx.addProxy(owned)).toThrow(/mutually exclusive/);
    expect(() => ctx.addProxy(createProxy(new SimpleFactory({ a: 1 })))).toThrow(TypeError);
    await dispose(owned);
    await ctx.close();
  });

  test('LeaseLifetime evicts when the lease expires', async () => {
    const lease = new LeaseLifetime(store, { expiryMs: 100 });
    const key = await store.put({ v: 1 }, { lifetime: lease });
    expect(await store.exists(key)).toBe(true);
    await eventually(() => lease.done());
    await lease.close();
    expect(await store.exists(key)).toBe(false);
  });

  test('LeaseLifetime.extend pushes the expiry out (and the native TTL where there is one)', async () => {
    const lease = new LeaseLifetime(store, { expiryMs: 2000 });
    const key = await store.put({ v: 1 }, { lifetime: lease });
    const ttl = backend().nativeTtlMs;
    if (ttl) {
      await eventually(async () => (await ttl(key)) > 0);
      expect(await ttl(key)).toBeLessThanOrEqual(2000);
    }
    await lease.extend(60_000);
    expect(lease.remainingMs()).toBeGreaterThan(55_000);
    if (ttl) expect(await ttl(key)).toBeGreaterThan(55_000);
    await lease.extend(new Date(Date.now() + 30_000));
    expect(lease.remainingMs()).toBeLessThanOrEqual(30_000);
    await lease.close(); // ends early
    expect(await store.exists(key)).toBe(false);
    await expect(lease.extend(1)).rejects.toThrow(/has ended/);
  });

  test('LeaseLifetime validates its expiry', () => {
    expect(() => new LeaseLifetime(store, { expiryMs: -1 })).toThrow(TypeError);
    expect(() => new LeaseLifetime(store, {} as never)).toThrow(TypeError);
  });

  test('a lease outlives a crashed process only where the connector has native expiry', async () => {
    const b = backend();
    if (!b.shared) {
      expect(b.name).toBe('local'); // in-memory data dies with its process anyway
      return;
    }
    assertBuilt(b.connectorDist);
    const result = await runChild({
      mode: 'lease-then-die',
      expiryMs: 1000,
      storeConfig: store.config(),
      connectorDist: b.connectorDist,
    });
    expect(result.signal).toBe('SIGKILL');
    const key = result.replies[0]?.key as ConnectorKey;
    expect(key).toBeDefined();
    if (b.nativeTtlMs) {
      await eventually(async () => !(await store.exists(key)), 5000);
    } else {
      // No native expiry (files): the data survives the crash; someone must evict it.
      expect(await store.exists(key)).toBe(true);
      await store.evict(key);
    }
  });

  test('StaticLifetime evicts its keys when the process exits', async () => {
    const b = backend();
    expect(() => StaticLifetime.instance().addKey({ id: 'x' })).toThrow(TypeError);
    if (!b.shared) return;
    assertBuilt(b.connectorDist);
    const result = await runChild({
      mode: 'static',
      storeConfig: store.config(),
      connectorDist: b.connectorDist,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { key, plain } = result.replies[0] as { key: ConnectorKey; plain: ConnectorKey };
    expect(await store.exists(key)).toBe(false);
    expect(await store.exists(plain)).toBe(true); // the control: not in the lifetime
    await store.evict(plain);
  });
});
