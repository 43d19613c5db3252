import { thrown } from '@proxy/connector-test-suite';
import type { ConnectorKey } from './connector.js';
import {
  MutableBorrowError,
  NonDeferrableConnectorError,
  NonProxiableTypeError,
  ReferenceInvalidError,
  ReferenceNotOwnedError,
  SerializationError,
} from './errors.js';
import { SimpleFactory } from './factory.js';
import { describeEachBackend } from './fixtures/backends.js';
import { LocalConnector } from './local-connector.js';
import { createProxy, extract, getFactory, isResolved, resolve } from './proxy.js';
import {
  borrow,
  clone,
  dispose,
  intoOwned,
  mutBorrow,
  type OwnedProxy,
  referenceInfo,
  update,
  waitForEvictions,
} from './ref.js';
import { markRefsOutOfScope } from './scopes.js';
import { deserialize, serialize } from './serialize.js';
import { Store } from './store.js';
import type { StoreFactory } from './store-factory.js';

function keyOf(proxy: unknown): ConnectorKey {
  return (getFactory(proxy) as StoreFactory).key;
}

/** Serializes and deserializes, as sending a value to another process does. */
function send<T>(value: T): T {
  return deserialize(serialize(value)) as T;
}

describeEachBackend('ownership', (backend) => {
  let store: Store;
  beforeEach(() => {
    store = backend().newStore();
  });
  afterEach(async () => {
    await waitForEvictions();
    expect(await backend().objectCount()).toBe(0);
  });

  test('ownedProxy is a resolved OwnedProxy that behaves like its target', async () => {
    const owned = await store.ownedProxy({ values: [1, 2, 3], name: 'x' });
    expect(isResolved(owned)).toBe(true);
    expect(owned.values.reduce((a, b) => a + b, 0)).toBe(6);
    expect(referenceInfo(owned)).toEqual({ kind: 'owned', valid: true, refs: 0, refMuts: 0 });
    expect(await store.exists(keyOf(owned))).toBe(true);
    await dispose(owned);
    expect(await store.exists(keyOf(owned))).toBe(false);
  });

  test('dispose() evicts and later use raises ReferenceInvalidError', async () => {
    const owned = await store.ownedProxy([1, 2, 3]);
    expect(Array.isArray(owned)).toBe(true);
    await dispose(owned);
    expect(() => owned.length).toThrow(ReferenceInvalidError);
    expect(() => borrow(owned)).toThrow(ReferenceInvalidError);
    await dispose(owned); // idempotent
  });

  test('`using` disposes at the end of the block (sync) and the eviction is tracked', async () => {
    let key: ConnectorKey;
    {
      using owned = await store.ownedProxy({ a: 1 });
      key = keyOf(owned);
      expect(owned.a).toBe(1);
    }
    await waitForEvictions();
    expect(await store.exists(key)).toBe(false);
  });

  test('`await using` waits for the eviction', async () => {
    let key: ConnectorKey;
    {
      await using owned = await store.ownedProxy({ a: 1 });
      key = keyOf(owned);
    }
    expect(await store.exists(key)).toBe(false);
  });

  test('many immutable borrows or one mutable borrow', async () => {
    const owned = await store.ownedProxy({ n: 1 });
    const a = borrow(owned);
    const b = borrow(owned);
    expect(a.n + b.n).toBe(2);
    expect(referenceInfo(owned)).toMatchObject({ refs: 2, refMuts: 0 });
    expect(() => mutBorrow(owned)).toThrow(
      new MutableBorrowError('Proxy was already borrowed as immutable.'),
    );
    markRefsOutOfScope(a, b);
    const m = mutBorrow(owned);
    expect(() => mutBorrow(owned)).toThrow(
      new MutableBorrowError('Proxy was already borrowed as mutable.'),
    );
    expect(() => borrow(owned)).toThrow(
      new MutableBorrowError('Proxy was already borrowed as mutable.'),
    );
    m.n = 5;
    expect(owned.n).toBe(5); // the borrow shares the owner's resolved target
    markRefsOutOfScope(m);
    expect(referenceInfo(owned)).toMatchObject({ refs: 0, refMuts: 0 });
    await dispose(owned);
  });

  test('borrowing, cloning or mutably borrowing a non-owned proxy raises ReferenceNotOwnedError', async () => {
    const plain = await store.proxy({ a: 1 });
    const owned = await store.ownedProxy({ a: 2 });
    const ref = borrow(owned);
    for (const candidate of [plain, ref, { a: 3 }]) {
      const asOwned = candidate as unknown as OwnedProxy<{ a: number }>;
      expect(() => borrow(asOwned)).toThrow(
        new ReferenceNotOwnedError('Only owned references can be borrowed.'),
      );
      expect(() => mutBorrow(asOwned)).toThrow(ReferenceNotOwnedError);
      await expect(clone(asOwned)).rejects.toThrow(
        new ReferenceNotOwnedError('Only owned references can be cloned.'),
      );
    }
    markRefsOutOfScope(ref);
    await dispose(owned);
    await store.evict(keyOf(plain));
  });

  test('disposing a borrowed owner raises and keeps the data', async () => {
    const owned = await store.ownedProxy({ a: 1 });
    const ref = borrow(owned);
    const error = thrown(() => owned[Symbol.dispose]());
    expect(error).toBeInstanceOf(MutableBorrowError);
    expect((error as Error).message).toMatch(/1 RefProxy and 0 RefMutProxy still borrow it/);
    await expect(dispose(owned)).rejects.toThrow(MutableBorrowError);
    expect(await store.exists(keyOf(owned))).toBe(true);
    expect(owned.a).toBe(1);
    ref[Symbol.dispose](); // `using ref = borrow(owned)` releases the same way
    expect(() => ref.a).toThrow(ReferenceInvalidError);
    await dispose(owned);
    expect(await store.exists(keyOf(owned))).toBe(false);
  });

  test('serializing an owner moves it: the sender is invalid and no longer evicts', async () => {
    const owned = await store.ownedProxy({ a: 1 });
    const received = send(owned);
    expect(() => owned.a).toThrow(ReferenceInvalidError);
    expect(referenceInfo(received)).toEqual({ kind: 'owned', valid: true, refs: 0, refMuts: 0 });
    await dispose(owned); // a moved owner does not evict
    expect(await store.exists(keyOf(received))).toBe(true);
    expect((await resolve(received)).a).toBe(1);
    // A moved reference cannot be sent twice (that would make two owners).
    const again = thrown(() => serialize(owned));
    expect(error(again)).toBeInstanceOf(SerializationError);
    expect(error(again).cause).toBeInstanceOf(ReferenceInvalidError);
    await dispose(received);
    expect(await store.exists(keyOf(received))).toBe(false);
  });

  test('serializing a borrow moves it; a deserialized borrow does not decrement the owner', async () => {
    const owned = await store.ownedProxy({ a: 1 });
    const ref = borrow(owned);
    const remote = send(ref);
    expect(() => ref.a).toThrow(ReferenceInvalidError);
    expect(referenceInfo(remote)).toEqual({ kind: 'ref', valid: true, hasOwner: false });
    expect((await resolve(remote)).a).toBe(1);
    await dispose(remote); // no owner here: only invalidates the copy
    expect(() => remote.a).toThrow(ReferenceInvalidError);
    expect(referenceInfo(owned)).toMatchObject({ refs: 1 });
    const second = borrow(owned);
    expect(() => markRefsOutOfScope(send(second))).toThrow(ReferenceNotOwnedError);
    expect(referenceInfo(owned)).toMatchObject({ refs: 2 });
    // The sender's moved copies still count until they go out of scope here.
    await expect(dispose(owned)).rejects.toThrow(MutableBorrowError);
    markRefsOutOfScope(ref);
    expect(referenceInfo(owned)).toMatchObject({ refs: 1 });
    markRefsOutOfScope(second);
    await dispose(owned);
  });

  test('serializing a mutable borrow moves it and the owner stays mutably borrowed', async () => {
    const owned = await store.ownedProxy({ a: 1 });
    const m = mutBorrow(owned);
    const remote = send(m);
    expect(() => m.a).toThrow(ReferenceInvalidError);
    expect(referenceInfo(remote)).toMatchObject({ kind: 'refmut', hasOwner: false });
    expect(() => borrow(owned)).toThrow(MutableBorrowError);
    markRefsOutOfScope(m);
    markRefsOutOfScope(m); // already out of scope: skipped
    const ref = borrow(owned);
    markRefsOutOfScope(ref);
    await dispose(owned);
  });

  test('update writes a mutable borrow back under the same key', async () => {
    const owned = await store.ownedProxy({ items: [1] });
    const key = keyOf(owned);
    const m = mutBorrow(owned);
    m.items.push(2);
    await update(m);
    const stored = deserialize((await store.connector.get(key))!) as { items: number[] };
    expect(stored.items).toEqual([1, 2]);
    expect(keyOf(m)).toEqual(key);
    await expect(update(owned)).rejects.toThrow(
      new MutableBorrowError('OwnedProxy has been borrowed. Cannot mutate.'),
    );
    markRefsOutOfScope(m);
    owned.items.push(3);
    await update(owned);
    expect((deserialize((await store.connector.get(key))!) as typeof stored).items).toEqual([
      1, 2, 3,
    ]);
    const ref = borrow(owned);
    await expect(update(ref as never)).rejects.toThrow(
      new ReferenceNotOwnedError('Reference is an immutable borrow.'),
    );
    await expect(update(owned)).rejects.toThrow(MutableBorrowError);
    markRefsOutOfScope(ref);
    await dispose(owned);
  });

  test('update of an unresolved owner is a no-op', async () => {
    const owned = await store.ownedProxy({ v: 1 });
    const received = send(owned);
    expect(isResolved(received)).toBe(false);
    await update(received);
    expect(isResolved(received)).toBe(false);
    expect(deserialize((await store.connector.get(keyOf(received)))!)).toEqual({ v: 1 });
    await dispose(received);
  });

  test('clone copies the stored bytes to a new key; the copies are independent', async () => {
    const owned = await store.ownedProxy({ deep: { n: 1 } });
    const copy = await clone(owned);
    expect(keyOf(copy)).not.toEqual(keyOf(owned));
    const [a, b] = await Promise.all([
      store.connector.get(keyOf(owned)),
      store.connector.get(keyOf(copy)),
    ]);
    expect(Buffer.compare(Buffer.from(a!), Buffer.from(b!))).toBe(0);
    expect(isResolved(copy)).toBe(true);
    expect(extract(copy)).toEqual(extract(owned));
    expect(extract(copy).deep).not.toBe(extract(owned).deep);
    await dispose(owned);
    expect(await store.exists(keyOf(copy))).toBe(true);
    expect(copy.deep.n).toBe(1);
    await dispose(copy);
  });

  test('intoOwned takes over a plain proxy, clears evict, and refuses owned or borrowed proxies', async () => {
    const plain = await store.proxy({ v: 7 }, { evict: true, populateTarget: false });
    const owned = intoOwned(plain);
    expect(() => plain.v).toThrow(ReferenceInvalidError);
    expect(() => plain.v).toThrow(/moved into the OwnedProxy intoOwned\(\) returned; use that one/);
    expect((await resolve(owned)).v).toBe(7);
    expect(await store.exists(keyOf(owned))).toBe(true); // resolving did not evict
    expect(() => intoOwned(owned)).toThrow(ReferenceNotOwnedError);
    const ref = borrow(owned);
    expect(() => intoOwned(ref)).toThrow(ReferenceNotOwnedError);
    expect(() => intoOwned(createProxy(new SimpleFactory({ x: 1 })))).toThrow(TypeError);
    markRefsOutOfScope(ref);
    await dispose(owned);
  });

  test('non-proxiable values come back as they are unless skipNonProxiable is false', async () => {
    expect(await store.ownedProxy(null)).toBeNull();
    expect(await store.ownedProxy(false)).toBe(false);
    await expect(store.ownedProxy(true, { skipNonProxiable: false })).rejects.toThrow(
      NonProxiableTypeError,
    );
  });

  test('a primitive target unboxes through borrows', async () => {
    const owned = await store.ownedProxy('hello');
    using ref = borrow(owned);
    expect(extract(ref)).toBe('hello');
    expect(ref.toUpperCase()).toBe('HELLO');
    ref[Symbol.dispose]();
    await dispose(owned);
  });

  test('evict and lifetime together are refused', async () => {
    const lifetime = { addKey: () => {} };
    await expect(store.proxy({ a: 1 }, { evict: true, lifetime })).rejects.toThrow(
      /mutually exclusive/,
    );
  });
});

function error(value: unknown): Error {
  return value as Error;
}

describe('ownership on a non-deferrable connector', () => {
  test('update raises NonDeferrableConnectorError', async () => {
    const local = new LocalConnector();
    const plain = {
      put: local.put.bind(local),
      get: local.get.bind(local),
      putBatch: local.putBatch.bind(local),
      getBatch: local.getBatch.bind(local),
      exists: local.exists.bind(local),
      evict: local.evict.bind(local),
      config: local.config.bind(local),
      close: local.close.bind(local),
    };
    const store = new Store('non-deferrable', plain);
    const owned = await store.ownedProxy({ a: 1 });
    await expect(update(owned)).rejects.toThrow(NonDeferrableConnectorError);
    await dispose(owned);
    expect(local.size).toBe(0);
    await store.close();
  });
});
