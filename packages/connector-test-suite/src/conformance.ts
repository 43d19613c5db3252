import {
  type Connector,
  type ConnectorKey,
  connectorFromConfig,
  deserialize,
  getFactory,
  getStore,
  InvalidKeyError,
  isDeferrable,
  isProxy,
  isResolved,
  resolveSync,
  Store,
  type StoreFactory,
  serialize,
  unregisterStore,
} from '@proxy/core';

export interface ConformanceOptions<K extends ConnectorKey> {
  /** Shown in the describe block, e.g. 'FileConnector'. */
  name: string;
  /** A fresh connector for one test; closed by the suite afterwards. */
  create(): Promise<Connector<K>> | Connector<K>;
  /** Well-formed-looking keys that this connector must reject (other directory, other bucket…). */
  foreignKeys?: unknown[];
  /** Size of the large round trip in bytes (default 50 MB). */
  largeBytes?: number;
  /** Run the deferrable tests (default: when the connector has newKey/set). */
  deferrable?: boolean;
  /** How long `waitFor` may take to notice a set in the test (default 5 s). */
  waitTimeoutMs?: number;
}

const MALFORMED_KEYS: unknown[] = [
  null,
  undefined,
  'a-string-key',
  42,
  [],
  {},
  { unrelated: 'field' },
];

/** Deterministic pseudo-random bytes (the same `n` and `seed` give the same bytes). */
export function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function same(actual: Uint8Array | null, expected: Uint8Array): boolean {
  return (
    actual !== null &&
    Buffer.compare(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength), expected) === 0
  );
}

/**
 * The behaviour every connector shares. Call it from a connector's test file:
 * `runConnectorConformance({ name: 'FileConnector', create: () => new FileConnector({...}) })`.
 */
export function runConnectorConformance<K extends ConnectorKey>(
  options: ConformanceOptions<K>,
): void {
  const largeBytes = options.largeBytes ?? 50 * 1024 * 1024;

  describe(`${options.name} conformance`, () => {
    let connector: Connector<K>;
    const opened: Connector<K>[] = [];

    beforeEach(async () => {
      connector = await options.create();
      opened.push(connector);
    });

    afterEach(async () => {
      for (const c of opened.splice(0)) await c.close();
    });

    test('put, get, exists, evict (twice), missing key', async () => {
      const data = bytes(1024);
      const key = await connector.put(data);
      expect(JSON.parse(JSON.stringify(key))).toEqual(key);
      expect(await connector.exists(key)).toBe(true);
      expect(same(await connector.get(key), data)).toBe(true);
      await connector.evict(key);
      expect(await connector.exists(key)).toBe(false);
      expect(await connector.get(key)).toBeNull();
      await expect(connector.evict(key)).resolves.toBeUndefined();
    });

    test('distinct puts get distinct keys', async () => {
      const a = await connector.put(bytes(10, 1));
      const b = await connector.put(bytes(10, 1));
      expect(a).not.toEqual(b);
      await connector.evict(a);
      expect(same(await connector.get(b), bytes(10, 1))).toBe(true);
      await connector.evict(b);
    });

    test('empty value round trip', async () => {
      const key = await connector.put(new Uint8Array(0));
      const got = await connector.get(key);
      expect(got).not.toBeNull();
      expect(got!.byteLength).toBe(0);
      expect(await connector.exists(key)).toBe(true);
      await connector.evict(key);
    });

    test(`large value round trip (${largeBytes} bytes)`, async () => {
      const data = bytes(largeBytes, 7);
      const key = await connector.put(data);
      const got = await connector.get(key);
      expect(got?.byteLength).toBe(largeBytes);
      expect(same(got, data)).toBe(true);
      await connector.evict(key);
      expect(await connector.exists(key)).toBe(false);
    });

    test('putParts (or, without it, put) stores the exact concatenation, views and empty parts included', async () => {
      const putParts = connector.putParts
        ? (parts: Uint8Array[]) => connector.putParts!(parts)
        : (parts: Uint8Array[]) => connector.put(Buffer.concat(parts));
      const backing = bytes(4096, 5);
      const cases: Uint8Array[][] = [
        [Buffer.from('BS\n'), bytes(3000, 2)],
        [new Uint8Array(0), backing.subarray(10, 20), new Uint8Array(0), backing.subarray(4000)],
        [new Uint8Array(0), new Uint8Array(0)],
        [Buffer.from('CB\n'), bytes(2 * 1024 * 1024 + 1, 3)],
      ];
      const keys = await Promise.all(cases.map(putParts));
      for (const [i, parts] of cases.entries()) {
        expect(same(await connector.get(keys[i]!), Buffer.concat(parts))).toBe(true);
      }
      // The caller's pieces are left as they were.
      expect(same(backing, bytes(4096, 5))).toBe(true);
      for (const key of keys) await connector.evict(key);
    });

    test('batches keep order, a missing key reads as null', async () => {
      const items = [bytes(5, 1), bytes(0), bytes(3000, 3)];
      const keys = await connector.putBatch(items);
      expect(keys).toHaveLength(3);
      expect(new Set(keys.map((k) => JSON.stringify(k))).size).toBe(3);
      await connector.evict(keys[1]!);
      const got = await connector.getBatch(keys);
      expect(same(got[0]!, items[0]!)).toBe(true);
      expect(got[1]).toBeNull();
      expect(same(got[2]!, items[2]!)).toBe(true);
      for (const key of keys) await connector.evict(key);
    });

    test('100 concurrent puts all read back', async () => {
      const items = Array.from({ length: 100 }, (_, i) => bytes(100 + i, i + 1));
      const keys = await Promise.all(items.map((d) => connector.put(d)));
      expect(new Set(keys.map((k) => JSON.stringify(k))).size).toBe(100);
      const got = await Promise.all(keys.map((k) => connector.get(k)));
      got.forEach((g, i) => {
        expect(same(g, items[i]!)).toBe(true);
      });
      await Promise.all(keys.map((k) => connector.evict(k)));
    });

    test('config round trip: a connector rebuilt from JSON config reads the same data', async () => {
      const data = bytes(256, 9);
      const key = await connector.put(data);
      const config = JSON.parse(JSON.stringify(connector.config()));
      expect(typeof config.module).toBe('string');
      expect(typeof config.type).toBe('string');
      const rebuilt = connectorFromConfig(config) as Connector<K>;
      opened.push(rebuilt);
      expect(same(await rebuilt.get(key), data)).toBe(true);
      await rebuilt.evict(key);
      expect(await connector.exists(key)).toBe(false);
    });

    test('a proxy survives serialization and resolves synchronously through the store', async () => {
      const store = new Store(`conformance-${Math.random()}`, connector, { cacheSize: 0 });
      const value = {
        name: 'conformance',
        data: bytes(64, 5),
        nested: new Map([['k', [1, 2, 3]]]),
      };
      const proxy = await store.proxy(value);
      const copy = deserialize(serialize({ proxy })) as { proxy: typeof value };
      expect(isProxy(copy.proxy)).toBe(true);
      expect(isResolved(copy.proxy)).toBe(false);
      resolveSync(copy.proxy);
      expect(copy.proxy.name).toBe('conformance');
      expect(Buffer.compare(copy.proxy.data, value.data)).toBe(0);
      expect(copy.proxy.nested.get('k')).toEqual([1, 2, 3]);
      // The copy was resolved by a store rebuilt from the proxy's config and registered.
      const rebuilt = getStore(store.name);
      expect(rebuilt).toBeDefined();
      expect(rebuilt).not.toBe(store);
      unregisterStore(store.name);
      await store.evict((getFactory(proxy) as StoreFactory).key);
      await rebuilt!.close();
    });

    test('malformed and foreign keys are rejected with InvalidKeyError before any I/O', async () => {
      for (const bad of [...MALFORMED_KEYS, ...(options.foreignKeys ?? [])]) {
        const key = bad as K;
        await expect(connector.get(key)).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(connector.exists(key)).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(connector.evict(key)).rejects.toBeInstanceOf(InvalidKeyError);
      }
      // A closed connector can do no I/O: the key is still judged first, so a bad key reads
      // as InvalidKeyError there too, not as a connection error.
      await connector.close();
      for (const bad of [...MALFORMED_KEYS, ...(options.foreignKeys ?? [])]) {
        const key = bad as K;
        await expect(connector.get(key)).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(connector.evict(key)).rejects.toBeInstanceOf(InvalidKeyError);
      }
    });

    test("stored bytes are the connector's own: changing the caller's buffer or a read result changes nothing stored", async () => {
      const expected = bytes(4096, 11);
      const data = Buffer.from(expected);
      const key = await connector.put(data);
      data.fill(0);
      const first = await connector.get(key);
      expect(same(first, expected)).toBe(true);
      first!.fill(1);
      expect(same(await connector.get(key), expected)).toBe(true);
      const [got] = await connector.getBatch([key]);
      got!.fill(2);
      expect(same(await connector.get(key), expected)).toBe(true);
      await connector.evict(key);
      if (connector.putParts) {
        const header = Buffer.from('BS\n');
        const body = Buffer.from(expected);
        const partsKey = await connector.putParts([header, body]);
        header.fill(0);
        body.fill(0);
        expect(
          same(await connector.get(partsKey), Buffer.concat([Buffer.from('BS\n'), expected])),
        ).toBe(true);
        await connector.evict(partsKey);
      }
    });

    describe('deferrable', () => {
      const enabled = (c: Connector<K>) => options.deferrable ?? isDeferrable(c);

      test('newKey then set: absent until set, then readable; set overwrites', async () => {
        if (!enabled(connector)) {
          expect(isDeferrable(connector)).toBe(false);
          return;
        }
        if (!isDeferrable(connector))
          throw new Error(`${options.name} was declared deferrable but lacks newKey/set`);
        const key = await connector.newKey();
        expect(await connector.exists(key)).toBe(false);
        expect(await connector.get(key)).toBeNull();
        await connector.set(key, bytes(32, 2));
        expect(same(await connector.get(key), bytes(32, 2))).toBe(true);
        await connector.set(key, bytes(16, 3));
        expect(same(await connector.get(key), bytes(16, 3))).toBe(true);
        await connector.evict(key);
      });

      test('waitFor resolves once the key is set, and times out otherwise', async () => {
        if (!isDeferrable(connector) || !connector.waitFor) return;
        const timeoutMs = options.waitTimeoutMs ?? 5000;
        const key = await connector.newKey();
        const started = Date.now();
        await expect(connector.waitFor(key, { timeoutMs: 100 })).rejects.toMatchObject({
          code: 'PROXY_FUTURE_TIMEOUT',
        });
        expect(Date.now() - started).toBeGreaterThanOrEqual(90);
        const waiting = connector.waitFor(key, { timeoutMs });
        const writer = connector;
        setTimeout(() => void writer.set(key, bytes(8)), 50);
        await expect(waiting).resolves.toBeUndefined();
        await expect(connector.waitFor(key, { timeoutMs: 100 })).resolves.toBeUndefined();
        const aborted = new AbortController();
        const other = await connector.newKey();
        const pending = connector.waitFor(other, { signal: aborted.signal, timeoutMs });
        aborted.abort(new Error('stop waiting'));
        await expect(pending).rejects.toThrow('stop waiting');
        await connector.evict(key);
      });

      test('waitFor timeouts: a bad one is a TypeError; one past Node timer range (or Infinity) still waits, then wakes on set', async () => {
        if (!isDeferrable(connector) || !connector.waitFor) return;
        const waitFor = connector.waitFor.bind(connector);
        const key = await connector.newKey();
        for (const bad of [-1, Number.NaN, '5' as unknown as number]) {
          await expect((async () => waitFor(key, { timeoutMs: bad }))()).rejects.toThrow(TypeError);
        }
        for (const timeoutMs of [2 ** 31, 2 ** 40, Number.POSITIVE_INFINITY]) {
          const other = await connector.newKey();
          let outcome: unknown = 'pending';
          const waiting = waitFor(other, { timeoutMs }).then(
            () => 'resolved',
            (e: unknown) => e,
          );
          void waiting.then((o) => {
            outcome = o;
          });
          // Node fires a timer above 2^31 - 1 ms after 1 ms: such a wait would end at once.
          await new Promise((r) => setTimeout(r, 150));
          expect(outcome).toBe('pending');
          await connector.set(other, bytes(4, 5));
          await expect(waiting).resolves.toBe('resolved');
          await connector.evict(other);
        }
      });
    });
  });
}
