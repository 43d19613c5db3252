import {
  deserialize,
  extract,
  FutureTimeoutError,
  InvalidKeyError,
  isProxy,
  isResolved,
  LocalConnector,
  NonDeferrableConnectorError,
  ProxyResolveError,
  ProxyResolveMissingKeyError,
  registeredStores,
  resolve,
  SerializationError,
  Store,
  serialize,
} from '@proxy/core';
import { Future, FutureAlreadySetError } from '@proxy/future';
import {
  CountingLocalConnector,
  PollingLocalConnector,
  PutOnlyConnector,
} from './test-connectors.js';

const stores: Store[] = [];
function makeStore(connector = new LocalConnector(), register = true): Store {
  const store = new Store(`future-test-${stores.length}-${process.pid}`, connector, { register });
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  expect(registeredStores()).toEqual([]);
});

describe('Future with LocalConnector', () => {
  test('the guide example: set, result and proxy', async () => {
    const store = makeStore();
    const future = await Future.create<string>(store);
    const proxy = future.proxy();
    expect(isResolved(proxy)).toBe(false);
    await future.setResult('value');
    expect(await future.result()).toBe('value');
    // biome-ignore lint/suspicious/noDoubleEquals: the guide compares the proxy to the value with ==
    expect(proxy == 'value').toBe(true);
    expect(extract(proxy)).toBe('value');
  });

  test('the guide two-function example in one process, consumer started first or producer first', async () => {
    for (const consumerFirst of [true, false]) {
      const store = makeStore();
      const future = await Future.create<{ numbers: number[] }>(store);
      const foo = async (f: Future<{ numbers: number[] }>) => {
        await new Promise((r) => setTimeout(r, 20));
        await f.setResult({ numbers: [1, 2, 3] });
      };
      const bar = async (data: { numbers: number[] }) => {
        const before = 'independent work';
        await resolve(data);
        return `${before}: ${data.numbers.reduce((a, b) => a + b, 0)}`;
      };
      const tasks = consumerFirst
        ? [bar(future.proxy()), foo(future)]
        : [foo(future), bar(future.proxy())];
      const results = await Promise.all(tasks);
      expect(results[consumerFirst ? 0 : 1]).toBe('independent work: 6');
    }
  });

  test('result() waits for a value set later with the connector waitFor, no polling', async () => {
    const connector = new CountingLocalConnector();
    const store = makeStore(connector);
    const future = await Future.create<number[]>(store);
    expect(await future.done()).toBe(false);
    const waiting = future.result();
    const proxied = resolve(future.proxy());
    expect(connector.waitForCalls).toBe(2);
    const existsBefore = connector.existsCalls;
    setTimeout(() => void future.setResult([4, 5]), 30);
    expect(await waiting).toEqual([4, 5]);
    expect([...(await proxied)]).toEqual([4, 5]);
    // setResult's own write-once check is the only exists call while waiting
    expect(connector.existsCalls - existsBefore).toBe(1);
    expect(await future.done()).toBe(true);
  });

  test('needs a deferrable connector', async () => {
    const store = makeStore(new PutOnlyConnector() as never);
    await expect(Future.create(store)).rejects.toThrow(NonDeferrableConnectorError);
    await expect(Future.create(store)).rejects.toThrow(
      /Future\.create needs a connector with newKey\(\) and set\(\)/,
    );
  });

  test('a second setResult is FutureAlreadySetError, sequential, concurrent and from a copy', async () => {
    const store = makeStore();
    const future = await Future.create<string>(store);
    await future.setResult('first');
    const second = future.setResult('second');
    await expect(second).rejects.toThrow(FutureAlreadySetError);
    await expect(future.setResult('again')).rejects.toMatchObject({
      code: 'PROXY_FUTURE_ALREADY_SET',
    });
    expect(await future.result()).toBe('first');

    const racing = await Future.create<string>(store);
    const outcomes = await Promise.allSettled([racing.setResult('a'), racing.setResult('b')]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);

    const original = await Future.create<string>(store);
    const copy = deserialize(serialize(original)) as Future<string>;
    await original.setResult('mine');
    await expect(copy.setResult('theirs')).rejects.toThrow(/already has a result/);
    expect(await copy.result()).toBe('mine');
  });

  test('result() timeout is FutureTimeoutError naming the key', async () => {
    const store = makeStore();
    const future = await Future.create(store);
    const error = await future.result({ timeoutMs: 30 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FutureTimeoutError);
    expect((error as Error).message).toContain(JSON.stringify(future.key));
    expect((error as Error).message).toContain('within 30 ms');
    const withDefault = await Future.create(store, { timeoutMs: 20 });
    await expect(withDefault.result()).rejects.toThrow(FutureTimeoutError);
  });

  test('abort rejects with the signal reason (AbortError by default)', async () => {
    const store = makeStore();
    const future = await Future.create(store);
    const controller = new AbortController();
    const waiting = future.result({ signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    const reason = new Error('stop waiting');
    await expect(future.result({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    // aborting must not leave the future unusable
    await future.setResult('late');
    expect(await future.result()).toBe('late');
  });

  test('a blocking first use of an unset LocalConnector future explains to await resolve(p)', async () => {
    const store = makeStore();
    const future = await Future.create<{ a: number }>(store);
    const proxy = future.proxy();
    expect(() => proxy.a).toThrow(ProxyResolveError);
    expect(() => proxy.a).toThrow(/await resolve\(proxy\)/);
    await future.setResult({ a: 7 });
    expect(proxy.a).toBe(7);
  });

  test('await resolve(proxy) waits without blocking, and a proxy made after setResult starts resolved', async () => {
    const store = makeStore();
    const future = await Future.create<Map<string, number>>(store);
    const proxy = future.proxy();
    const resolving = resolve(proxy);
    await future.setResult(new Map([['x', 1]]));
    expect((await resolving).get('x')).toBe(1);
    const later = future.proxy();
    expect(isResolved(later)).toBe(true);
    expect(later).toBeInstanceOf(Map);
  });

  test('the proxy of a future travels through the core serializer unresolved', async () => {
    const store = makeStore();
    const future = await Future.create<number[]>(store);
    const copy = deserialize(serialize({ p: future.proxy({ shape: 'array' }) })) as { p: number[] };
    expect(isProxy(copy.p)).toBe(true);
    expect(isResolved(copy.p)).toBe(false);
    expect(Array.isArray(copy.p)).toBe(true);
    await future.setResult([1, 2]);
    expect([...(await resolve(copy.p))]).toEqual([1, 2]);
  });

  test('a Future is a plain object, not a proxy', async () => {
    const store = makeStore();
    const future = await Future.create<string>(store);
    expect(isProxy(future)).toBe(false);
    expect(Object.getPrototypeOf(future)).toBe(Future.prototype);
    expect(isProxy(Future.fromJSON(future.toJSON()))).toBe(false);
    expect(isProxy(deserialize(serialize(future)))).toBe(false);
  });

  test('a Future object survives the core serializer, alone, nested, and JSON', async () => {
    const store = makeStore();
    const future = await Future.create<string>(store, { pollingIntervalMs: 5, timeoutMs: 1000 });
    const bytes = serialize({ task: { args: [future] } });
    // written under its own tag (0xd9 a0 8c = tag 41100), as its toJSON() data
    expect(Buffer.from(bytes).includes(Buffer.from([0xd9, 0xa0, 0x8c]))).toBe(true);
    const { task } = deserialize(bytes) as { task: { args: Future<string>[] } };
    const viaCbor = task.args[0]!;
    expect(viaCbor).toBeInstanceOf(Future);
    expect(viaCbor).not.toBe(future);
    expect(viaCbor.toJSON()).toEqual(future.toJSON());
    const alone = deserialize(serialize(future)) as Future<string>;
    expect(alone).toBeInstanceOf(Future);
    expect(alone.key).toEqual(future.key);
    expect(viaCbor.key).toEqual(future.key);
    expect(viaCbor.timeoutMs).toBe(1000);
    const viaJson = Future.fromJSON<string>(JSON.stringify(future));
    expect(viaJson.toJSON()).toEqual(future.toJSON());
    expect(viaJson.store).toBe(store);
    const consumer = viaJson.result();
    await viaCbor.setResult('across');
    expect(await consumer).toBe('across');
    expect(await future.result()).toBe('across');
  });

  /** What the store holds under the key: the tombstone of an evicting read, or the serialized value. */
  async function stored(store: Store, key: unknown): Promise<string | null> {
    const bytes = await store.connector.get(key as never);
    return bytes === null ? null : Buffer.from(bytes).toString('latin1');
  }
  const TOMBSTONE = 'PF\n@proxy/future:consumed';

  test('evict replaces the result with a tombstone once read by a consumer copy', async () => {
    const store = makeStore();
    const future = await Future.create<string>(store, { evict: true });
    await future.setResult('once');
    const reader = Future.fromJSON<string>(future.toJSON());
    expect(await reader.result()).toBe('once');
    expect(await stored(store, future.key)).toBe(TOMBSTONE);
    expect(await reader.result()).toBe('once');
    // a copy arriving later learns at once that the result was consumed (no endless wait)
    const late = Future.fromJSON<string>(future.toJSON());
    await expect(late.result()).rejects.toThrow(ProxyResolveMissingKeyError);
    await expect(resolve(late.proxy())).rejects.toThrow(ProxyResolveMissingKeyError);
    // and so does anyone reading the key directly: the tombstone is not a value
    await expect(store.get(future.key)).rejects.toThrow(SerializationError);
  });

  test("evict applies to reads through the producer's own object and its proxies, exactly once", async () => {
    // the guide's first example, with evict: result() on the producer's object evicts
    const connector = new CountingLocalConnector();
    const store = makeStore(connector);
    const future = await Future.create<{ a: number }>(store, { evict: true });
    const early = future.proxy();
    await future.setResult({ a: 1 });
    expect(await stored(store, future.key)).not.toBe(TOMBSTONE);
    expect(await future.result()).toEqual({ a: 1 });
    expect(await stored(store, future.key)).toBe(TOMBSTONE);
    expect(early.a).toBe(1);
    expect(await future.result()).toEqual({ a: 1 });
    const later = future.proxy();
    expect(later.a).toBe(1);
    expect(await resolve(later)).toEqual({ a: 1 });
    expect(connector.setCalls).toBe(2); // the result, then one tombstone

    // the first read is a proxy's synchronous use (a proxy made after setResult)
    const viaProxy = await Future.create<number[]>(store, { evict: true });
    await viaProxy.setResult([1, 2]);
    const proxy = viaProxy.proxy();
    expect(Array.isArray(proxy)).toBe(true);
    expect(proxy.length).toBe(2);
    expect(await viaProxy.result()).toEqual([1, 2]); // shares the proxy's single eviction
    expect(await stored(store, viaProxy.key)).toBe(TOMBSTONE);
    expect(connector.setCalls).toBe(4);
  });

  test('concurrent reads of one evicting copy share one fetch and one eviction', async () => {
    const connector = new CountingLocalConnector();
    const store = makeStore(connector);
    const future = await Future.create<string>(store, { evict: true });
    const copy = deserialize(serialize(future)) as Future<string>;
    const reads = Promise.all([
      copy.result(),
      copy.result(),
      resolve(copy.proxy()).then((p) => extract(p)),
    ]);
    setTimeout(() => void future.setResult('v'), 20);
    expect(await reads).toEqual(['v', 'v', 'v']);
    expect(await stored(store, future.key)).toBe(TOMBSTONE);
    expect(connector.setCalls).toBe(2);
    // a proxy that travelled alone is a consumer of its own: it finds the result consumed
    await expect(resolve(deserialize(serialize(future.proxy())))).rejects.toThrow(
      ProxyResolveMissingKeyError,
    );

    const viaProxy = await Future.create<{ n: number }>(store, { evict: true });
    const travelled = deserialize(serialize({ p: viaProxy.proxy() })) as { p: { n: number } };
    await viaProxy.setResult({ n: 3 });
    expect((await resolve(travelled.p)).n).toBe(3);
    expect(await stored(store, viaProxy.key)).toBe(TOMBSTONE);
  });

  test('an evicted future stays done and write-once across copies', async () => {
    const store = makeStore();
    const future = await Future.create<string>(store, { evict: true });
    await future.setResult('first');
    const consumer = Future.fromJSON<string>(future.toJSON());
    expect(await consumer.result()).toBe('first');
    const fresh = Future.fromJSON<string>(future.toJSON());
    expect(await fresh.done()).toBe(true);
    await expect(fresh.setResult('second')).rejects.toThrow(FutureAlreadySetError);
    await expect(
      (deserialize(serialize(future)) as Future<string>).setResult('third'),
    ).rejects.toMatchObject({ code: 'PROXY_FUTURE_ALREADY_SET' });
    await expect(consumer.setResult('fourth')).rejects.toThrow(FutureAlreadySetError);
    await expect(Future.fromJSON<string>(future.toJSON()).result()).rejects.toThrow(
      ProxyResolveMissingKeyError,
    );
    expect(await stored(store, future.key)).toBe(TOMBSTONE);
  });

  test('custom serializer and deserializer', async () => {
    const store = makeStore();
    const future = await Future.create<string>(store, {
      serializer: (s) => Buffer.from(`XX\n${String(s).toUpperCase()}`),
      deserializer: (b) => `<${Buffer.from(b).subarray(3).toString()}>`,
    });
    await future.setResult('abc');
    const reader = Future.fromJSON<string>(future.toJSON(), {
      deserializer: (b) => Buffer.from(b).subarray(3).toString(),
    });
    expect(await reader.result()).toBe('ABC');
  });

  test('a foreign key is InvalidKeyError before any I/O', async () => {
    const store = makeStore();
    const future = await Future.create(store);
    const forged = Future.fromJSON({ ...future.toJSON(), key: { id: '../../etc/passwd' } });
    await expect(forged.result()).rejects.toThrow(InvalidKeyError);
    await expect(forged.setResult(1)).rejects.toThrow(InvalidKeyError);
    expect(() => Future.fromJSON({ key: 'x' })).toThrow(SerializationError);
    expect(() => Future.fromJSON({ key: 'x' })).toThrow(/Malformed future data/);
    expect(() => Future.fromJSON('{not json')).toThrow(SerializationError);
    expect(() => Future.fromJSON('[1]')).toThrow(/expected an object/);
    // the same checks guard the serializer path: malformed data under the Future tag
    const malformed = Buffer.concat([
      Buffer.from('CB\n'),
      Buffer.from([0xd9, 0xa0, 0x8c, 0xa1, 0x61, 0x6b, 0x01]), // tag 41100 { k: 1 }
    ]);
    expect(() => deserialize(malformed)).toThrow(SerializationError);
  });

  test('bad options are RangeError before any I/O', async () => {
    const store = makeStore();
    await expect(Future.create(store, { pollingIntervalMs: 0 })).rejects.toThrow(RangeError);
    await expect(Future.create(store, { pollingBackoffFactor: 0.5 })).rejects.toThrow(
      /pollingBackoffFactor/,
    );
    await expect(
      Future.create(store, { pollingIntervalMs: 50, pollingIntervalLimitMs: 10 }),
    ).rejects.toThrow(/pollingIntervalLimitMs/);
    await expect(Future.create(store, { timeoutMs: -1 })).rejects.toThrow(/timeoutMs/);
    const future = await Future.create(store);
    await expect(future.result({ timeoutMs: Number.NaN })).rejects.toThrow(RangeError);
  });
});

describe('Future on a connector without waitFor (polling with backoff)', () => {
  test('wakes when the value is set, with backoff between checks', async () => {
    const connector = new PollingLocalConnector();
    const store = makeStore(connector as never);
    const future = await Future.create<string>(store, {
      pollingIntervalMs: 2,
      pollingBackoffFactor: 2,
      pollingIntervalLimitMs: 16,
    });
    const checks = 7;
    const polled = new Promise<void>((resolve) => {
      connector.onExists = () => {
        if (connector.existsTimes.length === checks) resolve();
      };
    });
    const waiting = future.result();
    await polled;
    await future.setResult('polled');
    expect(await waiting).toBe('polled');
    // delays 2, 4, 8, 16, 16, 16 ms (timers never fire early by more than ~1 ms);
    // without backoff every gap would be ~2 ms
    const gaps = connector.existsTimes
      .slice(1, checks)
      .map((t, i) => t - connector.existsTimes[i]!);
    const expected = [2, 4, 8, 16, 16, 16];
    for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual(expected[i]! - 1);
  });

  test('times out and aborts while polling', async () => {
    const store = makeStore(new PollingLocalConnector() as never);
    const future = await Future.create(store, { pollingIntervalMs: 5 });
    await expect(future.result({ timeoutMs: 25 })).rejects.toThrow(FutureTimeoutError);
    const controller = new AbortController();
    const waiting = future.result({ signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    const proxy = future.proxy();
    const resolving = resolve(proxy);
    await future.setResult({ n: 1 });
    expect(((await resolving) as unknown as { n: number }).n).toBe(1);
  });
});
