import { connectorFromConfig } from './connector-registry.js';
import {
  ConnectorError,
  ConnectorNotFoundError,
  NonDeferrableConnectorError,
  NonProxiableTypeError,
  ProxyResolveMissingKeyError,
  SerializationError,
  StoreExistsError,
} from './errors.js';
import { LocalConnector, type LocalKey } from './local-connector.js';
import { getFactory, isProxy, isResolved, ProxyLocker, resolve } from './proxy.js';
import { deserialize, serialize } from './serialize.js';
import { Store } from './store.js';
import type { StoreFactory } from './store-factory.js';
import {
  getOrCreateStore,
  getStore,
  registeredStores,
  registerStore,
  unregisterStore,
} from './store-registry.js';

let store: Store<LocalConnector>;
beforeEach(() => {
  store = new Store(`test-${Math.random().toString(36).slice(2)}`, new LocalConnector(), {
    metrics: true,
  });
});
afterEach(async () => {
  await store.close();
  const leaked = registeredStores();
  for (const name of leaked) unregisterStore(name);
  expect(leaked).toEqual([]);
});

function keyOf(proxy: unknown) {
  return (getFactory(proxy) as StoreFactory).key;
}

describe('put / get / exists / evict', () => {
  test('round trip, missing key reads as null or the default', async () => {
    const key = await store.put({ a: [1, 2] });
    expect(await store.exists(key)).toBe(true);
    expect(await store.get(key)).toEqual({ a: [1, 2] });
    await store.evict(key);
    expect(await store.exists(key)).toBe(false);
    expect(await store.get(key)).toBeNull();
    expect(await store.get(key, { default: 'fallback' })).toBe('fallback');
  });

  test('putBatch keeps order', async () => {
    const keys = await store.putBatch(['a', { b: 1 }, Buffer.from('c')]);
    expect(await Promise.all(keys.map((k) => store.get(k)))).toEqual([
      'a',
      { b: 1 },
      Buffer.from('c'),
    ]);
  });

  test('a malformed key is rejected before the connector is asked', async () => {
    await expect(store.get({ id: '../../etc/passwd' })).rejects.toMatchObject({
      name: 'InvalidKeyError',
    });
  });

  test('a connector returning something other than bytes is a ConnectorError naming store, connector, type and key', async () => {
    class StringConnector extends LocalConnector {
      override async get(): Promise<Uint8Array | null> {
        return 'not bytes' as unknown as Uint8Array;
      }
      override getSync(): Uint8Array | null {
        return new Uint16Array(2) as unknown as Uint8Array;
      }
    }
    await using odd = new Store('odd-bytes', new StringConnector(), { cacheSize: 0 });
    const key = await odd.put({ a: 1 });
    const asyncError = await odd.get(key).catch((e: unknown) => e);
    expect(ConnectorError.is(asyncError)).toBe(true);
    expect((asyncError as Error).message).toBe(
      `Store "odd-bytes": StringConnector.get returned a value of type string for key=${JSON.stringify(key)}, not bytes: connectors must return a Uint8Array (a Buffer is one) or null.`,
    );
    expect(() => odd.getSync(key)).toThrow(
      /StringConnector\.get returned a value of type Uint16Array/,
    );
  });

  test('corrupt bytes under a key give SerializationError naming store and key', async () => {
    const key = await store.connector.put(Buffer.from('CB\n\xff\xff'));
    const error = await store.get(key).catch((e: unknown) => e);
    expect(SerializationError.is(error)).toBe(true);
    expect((error as Error).message).toContain(store.name);
    expect((error as Error).message).toContain(key.id);
  });
});

describe('cache', () => {
  test('deserialized objects are cached (hits/misses counted) and evict clears the entry', async () => {
    const key = await store.put({ n: 1 });
    const first = await store.get(key);
    const second = await store.get(key);
    expect(second).toBe(first);
    expect(store.isCached(key)).toBe(true);
    const m = store.metricsFor(key)!;
    expect(m.counters['store.get.cache_misses']).toBe(1);
    expect(m.counters['store.get.cache_hits']).toBe(1);
    await store.evict(key);
    expect(store.isCached(key)).toBe(false);
  });

  test('LRU bound by count and by bytes', async () => {
    const small = new Store('lru', new LocalConnector(), { cacheSize: 2, cacheBytes: 100 });
    const [a, b, c] = await small.putBatch([1, 2, 3]);
    await small.get(a!);
    await small.get(b!);
    await small.get(a!);
    await small.get(c!);
    expect([small.isCached(a!), small.isCached(b!), small.isCached(c!)]).toEqual([
      true,
      false,
      true,
    ]);
    const big = await small.put(Buffer.alloc(500));
    await small.get(big);
    expect(small.isCached(big)).toBe(false);
    expect(() => new Store('bad', new LocalConnector(), { cacheSize: -1 })).toThrow(RangeError);
  });
});

describe('metrics', () => {
  test("ProxyStore's event names, readable as JSON", async () => {
    const key = await store.put('x'.repeat(100));
    await store.get(key);
    const m = store.metricsFor(key)!;
    for (const name of [
      'store.put',
      'store.put.serialize',
      'store.put.connector',
      'store.get',
      'store.get.connector',
      'store.get.deserialize',
    ]) {
      expect(m.times[name]?.count).toBe(1);
    }
    expect(m.attributes['store.put.object_size']).toBe(103);
    const json = JSON.parse(JSON.stringify(store.metrics));
    expect(json.aggregate['store.put'].count).toBe(1);
    const off = new Store('no-metrics', new LocalConnector());
    expect(off.metricsFor(key)).toBeUndefined();
  });

  test('store.evict is recorded (with metrics on) under the evicted key, and in the aggregate', async () => {
    const key = await store.put({ doomed: true });
    expect(store.metricsFor(key)!.times['store.evict']).toBeUndefined();
    await store.evict(key);
    const evict = store.metricsFor(key)!.times['store.evict']!;
    expect(evict.count).toBe(1);
    expect(evict.lastTimeMs).toBeGreaterThanOrEqual(0);
    await store.evict(key); // evicting a missing key is not an error, and is timed too
    expect(store.metricsFor(key)!.times['store.evict']!.count).toBe(2);
    expect(JSON.parse(JSON.stringify(store.metrics)).aggregate['store.evict'].count).toBe(2);
    const off = new Store('no-metrics-evict', new LocalConnector());
    const offKey = await off.put(1);
    await off.evict(offKey);
    expect(off.metricsFor(offKey)).toBeUndefined();
  });
});

describe('proxies', () => {
  test('store.proxy returns an already-resolved proxy; a copy elsewhere resolves lazily', async () => {
    const p = await store.proxy({ v: 42 });
    expect(isProxy(p)).toBe(true);
    expect(isResolved(p)).toBe(true);
    const copy = deserialize(serialize(p)) as { v: number };
    expect(isResolved(copy)).toBe(false);
    expect(copy.v).toBe(42);
    unregisterStore(store.name);
  });

  test('populateTarget: false gives an unresolved proxy with the right shape', async () => {
    const p = await store.proxy([1, 2, 3], { populateTarget: false });
    expect(isResolved(p)).toBe(false);
    expect(Array.isArray(p)).toBe(true);
    expect(p[2]).toBe(3);
  });

  test('strings, numbers and bigints are proxied as boxed objects', async () => {
    const s = await store.proxy('text', { populateTarget: false });
    expect(s.toUpperCase()).toBe('TEXT');
    const n = await store.proxy(7, { populateTarget: false });
    expect(n + 1).toBe(8);
  });

  test('null, undefined and booleans are non-proxiable unless skipped', async () => {
    await expect(store.proxy(null)).rejects.toBeInstanceOf(NonProxiableTypeError);
    await expect(store.proxy(true)).rejects.toThrow(/skipNonProxiable/);
    expect(await store.proxy(false, { skipNonProxiable: true })).toBe(false);
    const batch = await store.proxyBatch([1, null, 'x'], { skipNonProxiable: true });
    expect(batch[1]).toBeNull();
    expect(isProxy(batch[0])).toBe(true);
    expect(String(batch[2])).toBe('x');
  });

  test('evict: true removes the object once resolved', async () => {
    const p = await store.proxy({ once: true }, { evict: true, populateTarget: false });
    const key = keyOf(p);
    await resolve(p);
    expect(p.once).toBe(true);
    expect(await store.connector.exists(key as LocalKey)).toBe(false);
  });

  test('a proxy to a missing key raises ProxyResolveMissingKeyError naming store and key', async () => {
    const key = await store.put({ gone: 1 });
    await store.evict(key);
    const p = store.proxyFromKey<{ gone: number }>(key);
    expect(() => p.gone).toThrow(ProxyResolveMissingKeyError);
    expect(() => p.gone).toThrow(new RegExp(`${store.name}.*${key.id}`));
    await expect(resolve(p)).rejects.toBeInstanceOf(ProxyResolveMissingKeyError);
  });

  test('per-call and per-store custom serializers', async () => {
    const upper = (obj: unknown) => Buffer.from(String(obj).toUpperCase());
    const asText = (bytes: Uint8Array) => Buffer.from(bytes).toString();
    const key = await store.put('shout', { serializer: upper });
    expect(await store.get(key, { deserializer: asText })).toBe('SHOUT');
    const custom = new Store('custom', new LocalConnector(), {
      serializer: upper,
      deserializer: asText,
    });
    const p = await custom.proxy('quiet', { populateTarget: false });
    expect(String(p)).toBe('QUIET');
    const bad = new Store('bad-serializer', new LocalConnector(), {
      serializer: () => 'not bytes' as never,
    });
    await expect(bad.put(1)).rejects.toThrow(/must return a Uint8Array/);
  });

  test('per-call serializer and deserializer of store.proxy are the ones used, not the store defaults', async () => {
    const calls = { serialize: 0, deserialize: 0 };
    const tagged = (obj: unknown) => {
      calls.serialize++;
      return Buffer.from(`TAGGED:${JSON.stringify(obj)}`);
    };
    const untag = (bytes: Uint8Array) => {
      calls.deserialize++;
      const text = Buffer.from(bytes).toString();
      if (!text.startsWith('TAGGED:')) throw new Error(`not tagged: ${text}`);
      return { ...JSON.parse(text.slice('TAGGED:'.length)), via: 'untag' };
    };
    const p = await store.proxy(
      { n: 7 },
      { serializer: tagged, deserializer: untag, populateTarget: false },
    );
    expect(calls).toEqual({ serialize: 1, deserialize: 0 });
    const stored = store.connector.getSync(keyOf(p) as LocalKey)!;
    expect(Buffer.from(stored).toString()).toBe('TAGGED:{"n":7}');
    expect(p.n).toBe(7);
    expect((p as { via?: string }).via).toBe('untag');
    expect(calls).toEqual({ serialize: 1, deserialize: 1 });
    // The store's own deserializer cannot read these bytes: the per-call one really ran.
    store.cache.clear();
    await expect(store.get(keyOf(p))).rejects.toBeInstanceOf(SerializationError);
    // proxyBatch takes them per call too.
    const [q] = (await store.proxyBatch([{ m: 1 }], {
      serializer: tagged,
      deserializer: untag,
      populateTarget: false,
    })) as { m: number; via?: string }[];
    expect(calls.serialize).toBe(2);
    expect(q!.via).toBe('untag');
    expect(calls.deserialize).toBe(2);
  });

  test('a ProxyLocker keeps its proxy unresolved (factory not called) until unlocked and used', async () => {
    const locker = await store.lockedProxy({ secret: 1 }, { populateTarget: false });
    const proxy = locker.unlock();
    const resolveSpy = jest.spyOn(getFactory(proxy) as StoreFactory, 'resolve');
    const getSync = jest.spyOn(store.connector, 'getSync');
    // Handling the locker in every ordinary way touches nothing behind it.
    expect(Object.keys(locker)).toEqual([]);
    expect(JSON.stringify(locker)).toBe('{}');
    expect(String(locker)).toBe('[object Object]');
    expect(await locker).toBe(locker);
    const copy = deserialize(serialize(locker)) as ProxyLocker<{ secret: number }>;
    expect(copy).toBeInstanceOf(ProxyLocker);
    expect(isResolved(proxy)).toBe(false);
    expect(resolveSpy).not.toHaveBeenCalled();
    expect(getSync).not.toHaveBeenCalled();
    // unlock() hands back the proxy itself, still unresolved.
    expect(locker.unlock()).toBe(proxy);
    expect(isResolved(proxy)).toBe(false);
    expect(resolveSpy).not.toHaveBeenCalled();
    // First use resolves it, once.
    expect(proxy.secret).toBe(1);
    expect(proxy.secret).toBe(1);
    expect(isResolved(proxy)).toBe(true);
    expect(resolveSpy).toHaveBeenCalledTimes(1);
    expect(isResolved(copy.unlock())).toBe(false);
  });

  test('lockedProxy hides the proxy until unlocked', async () => {
    const locker = await store.lockedProxy({ secret: 1 });
    expect(locker).toBeInstanceOf(ProxyLocker);
    expect(Object.keys(locker)).toEqual([]);
    expect(locker.unlock().secret).toBe(1);
  });

  test('Store.set overwrites a key on a deferrable connector and drops the cached copy', async () => {
    const key = await store.put({ v: 1 });
    await store.get(key);
    await store.set(key, { v: 2 });
    expect(await store.get(key)).toEqual({ v: 2 });
    const plain = new Store('plain', { ...new LocalConnector(), constructor: Object } as never);
    await expect(plain.set(key, 1)).rejects.toBeInstanceOf(NonDeferrableConnectorError);
  });
});

describe('config and registry', () => {
  test('config() is plain JSON naming the connector by package and export; fromConfig rebuilds it', async () => {
    const key = await store.put('shared');
    const config = JSON.parse(JSON.stringify(store.config()));
    expect(config.connector).toMatchObject({ module: '@proxy/core', type: 'LocalConnector' });
    const rebuilt = Store.fromConfig(config);
    expect(rebuilt.name).toBe(store.name);
    expect(await rebuilt.get(key)).toBe('shared');
    expect(connectorFromConfig(config.connector)).toBeInstanceOf(LocalConnector);
  });

  test('an unknown connector package is a typed error naming the package to install', () => {
    const config = {
      ...store.config(),
      connector: { module: '@acme/connector-nope', type: 'NopeConnector', options: {} },
    };
    expect(() => Store.fromConfig(config)).toThrow(ConnectorNotFoundError);
    expect(() => Store.fromConfig(config)).toThrow(/pnpm add @acme\/connector-nope/);
    const wrongExport = {
      ...store.config(),
      connector: { module: '@proxy/core', type: 'Nope', options: {} },
    };
    expect(() => Store.fromConfig(wrongExport)).toThrow(/no connector export "Nope"/);
  });

  test('register / get / unregister, StoreExistsError suggests getStore', async () => {
    const a = new Store('registered', new LocalConnector(), { register: true });
    expect(getStore('registered')).toBe(a);
    const b = new Store('registered-2', new LocalConnector());
    registerStore(b);
    const clash = new Store('registered', new LocalConnector());
    expect(() => registerStore(clash)).toThrow(StoreExistsError);
    expect(() => registerStore(clash)).toThrow(/getStore\("registered"\)/);
    registerStore(clash, { existOk: true });
    expect(getStore('registered')).toBe(clash);
    const p = await clash.proxy({ x: 1 });
    expect(getStore(p as object)).toBe(clash);
    unregisterStore('registered');
    unregisterStore(b);
    unregisterStore('never-registered');
    await a.close();
    expect(getStore('registered')).toBeUndefined();
  });

  test('a proxy received without a registered store builds and registers one from its config', async () => {
    const p = await store.proxy({ far: 'away' });
    const copy = deserialize(serialize(p)) as { far: string };
    expect(getStore(store.name)).toBeUndefined();
    expect(copy.far).toBe('away');
    const rebuilt = getStore(store.name)!;
    expect(rebuilt).not.toBe(store);
    expect(getOrCreateStore(store.config())).toBe(rebuilt);
    unregisterStore(rebuilt);
  });

  test('close is idempotent and works with await using', async () => {
    {
      await using scoped = new Store('scoped', new LocalConnector(), { register: true });
      expect(getStore('scoped')).toBe(scoped);
    }
    expect(getStore('scoped')).toBeUndefined();
    await store.close();
  });
});

describe('zero-copy put of raw bytes', () => {
  class PartsConnector extends LocalConnector {
    received: (readonly Uint8Array[])[] = [];
    override async putParts(parts: readonly Uint8Array[]) {
      this.received.push(parts);
      return this.put(Buffer.concat(parts));
    }
  }

  test('a Buffer reaches putParts as [BS header, the caller buffer itself]; other values as one piece', async () => {
    const connector = new PartsConnector();
    const parts = new Store('parts', connector, { metrics: true });
    const payload = Buffer.from('raw payload');
    const key = await parts.put(payload);
    expect(connector.received[0]![1]).toBe(payload);
    expect(Buffer.from(connector.received[0]![0]!).toString()).toBe('BS\n');
    expect(await parts.get(key)).toEqual(payload);
    expect(parts.metricsFor(key)!.attributes['store.put.object_size']).toBe(3 + payload.length);
    await parts.put({ a: 1 });
    expect(connector.received[1]).toHaveLength(1);
    const custom = new Store('parts-custom', connector, {
      serializer: (o) => Buffer.from(String(o)),
    });
    await custom.put('x');
    expect(connector.received).toHaveLength(2);
  });
});
