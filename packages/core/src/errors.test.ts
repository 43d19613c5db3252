import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { thrown } from '@proxy/connector-test-suite';
import type { Connector } from './connector.js';
import { requireDeferrable } from './deferrable.js';
import * as errors from './errors.js';
import { LocalConnector, type LocalKey } from './local-connector.js';
import { getFactory } from './proxy.js';
import { borrow, dispose, update, waitForEvictions } from './ref.js';
import { markRefsOutOfScope } from './scopes.js';
import { deserialize, serialize } from './serialize.js';
import { Store } from './store.js';
import type { StoreFactory } from './store-factory.js';
import { stopSyncBridge } from './sync-bridge.js';

// A connector without getSync, loaded by absolute path in the sync bridge's worker.
const { AsyncDirConnector } = require('./fixtures/async-dir-connector.cjs');

afterAll(() => stopSyncBridge());

/** The error `promise` rejects with; fails the test if it fulfils. */
async function rejected(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('unreachable: expected a rejection');
    },
    (error: unknown) => error as Error,
  );
}

const classes = Object.entries(errors).filter(
  ([name, value]) => typeof value === 'function' && name.endsWith('Error'),
) as [string, typeof errors.ProxyStoreError][];

test('every error class extends ProxyStoreError with its own name and stable code', () => {
  const codes = new Set<string>();
  for (const [name, Cls] of classes) {
    const e =
      name === 'ProxyResolveMissingKeyError'
        ? new errors.ProxyResolveMissingKeyError({ k: 'v' }, 's', 'C')
        : new Cls('msg');
    expect(e).toBeInstanceOf(Error);
    expect(errors.ProxyStoreError.is(e)).toBe(true);
    expect(e.name).toBe(name);
    expect(e.code).toMatch(/^PROXY_/);
    codes.add(e.code);
  }
  expect(codes.size).toBe(classes.length);
  expect(classes.map(([n]) => n)).toEqual(
    expect.arrayContaining([
      'ProxyResolveMissingKeyError',
      'SerializationError',
      'ConnectorError',
      'MutableBorrowError',
      'ReferenceInvalidError',
      'ReferenceNotOwnedError',
      'FutureTimeoutError',
      'InvalidKeyError',
      'StoreExistsError',
      'NonDeferrableConnectorError',
      'NonProxiableTypeError',
    ]),
  );
});

test('Err.is works across copies of the package (branded with Symbol.for), not by class identity', () => {
  const foreign = Object.assign(new Error('from another copy'), {
    [Symbol.for('@proxy/core.error')]: true,
    code: 'PROXY_CONNECTOR',
  });
  expect(errors.ProxyStoreError.is(foreign)).toBe(true);
  expect(errors.ConnectorError.is(foreign)).toBe(true);
  expect(errors.SerializationError.is(foreign)).toBe(false);
  expect(errors.ProxyStoreError.is(new Error('plain'))).toBe(false);
  expect(errors.ProxyStoreError.is(null)).toBe(false);
});

test('ProxyResolveMissingKeyError names the store, connector and key and says what to do', () => {
  const e = new errors.ProxyResolveMissingKeyError(
    { redisKey: 'abc' },
    'my-store',
    'RedisConnector',
  );
  expect(e.message).toContain('Store(name="my-store", connector=RedisConnector)');
  expect(e.message).toContain('{"redisKey":"abc"}');
  expect(e.message).toMatch(/keep the data alive/);
  expect(e.key).toEqual({ redisKey: 'abc' });
});

test('ConnectorError keeps the client error as cause', () => {
  const cause = new Error('ECONNREFUSED 127.0.0.1:1');
  const e = new errors.ConnectorError('Redis at 127.0.0.1:1 is down', { cause });
  expect(e.cause).toBe(cause);
});

// The messages below are the ones the real code paths build, not ones passed in by the test.
describe('messages from the operations that raise them', () => {
  let store: Store<LocalConnector>;
  beforeEach(() => {
    store = new Store(`errors-${Math.random().toString(36).slice(2)}`, new LocalConnector());
  });
  afterEach(async () => {
    await waitForEvictions();
    expect(store.connector.size).toBe(0);
    await store.close();
  });

  test('InvalidKeyError: Store.get with a malformed key names the connector and the key, before any I/O', async () => {
    const get = jest.spyOn(store.connector, 'get');
    const notUuid = await rejected(store.get({ id: '../../etc/passwd' }));
    expect(notUuid).toBeInstanceOf(errors.InvalidKeyError);
    expect(notUuid.message).toBe(
      'LocalConnector key id must be a uuid; got {"id":"../../etc/passwd"}',
    );
    const empty = await rejected(store.get({ id: '' }));
    expect(empty.message).toBe('LocalConnector key needs a non-empty string "id"; got {"id":""}');
    const notObject = await rejected(store.get('some-key' as never));
    expect(notObject.message).toBe('LocalConnector key must be an object with id; got "some-key"');
    expect(get).not.toHaveBeenCalled();
    const sync = thrown(() => store.proxyFromKey({ id: 42 }));
    expect(errors.InvalidKeyError.is(sync)).toBe(true);
    expect(sync.message).toBe('LocalConnector key needs a non-empty string "id"; got {"id":42}');
  });

  test('FutureTimeoutError: a LocalConnector waitFor that runs out names the key and the ms', async () => {
    const key = await store.connector.newKey();
    const error = await rejected(store.connector.waitFor(key, { timeoutMs: 30 }));
    expect(error).toBeInstanceOf(errors.FutureTimeoutError);
    expect(error.message).toBe(
      `LocalConnector: key=${JSON.stringify(key)} was not set within 30 ms`,
    );
  });

  test('ReferenceInvalidError: a moved owner says it was serialized and to use the received copy', async () => {
    const owned = await store.ownedProxy({ a: 1 });
    const key = (getFactory(owned) as StoreFactory).key;
    const received = deserialize(serialize(owned)) as typeof owned;
    const error = thrown(() => owned.a);
    expect(error).toBeInstanceOf(errors.ReferenceInvalidError);
    expect(error.message).toBe(
      `Reference to Store "${store.name}" key=${JSON.stringify(key)} has been invalidated: ` +
        'it was serialized (moved to another process or into stored data); use the copy that was received.',
    );
    expect(received.a).toBe(1);
    await dispose(received);
  });

  test('ReferenceInvalidError: a disposed owner says its data was evicted', async () => {
    const owned = await store.ownedProxy([1, 2]);
    const key = (getFactory(owned) as StoreFactory).key;
    await dispose(owned);
    const error = thrown(() => owned.length);
    expect(error).toBeInstanceOf(errors.ReferenceInvalidError);
    expect(error.message).toBe(
      `Reference to Store "${store.name}" key=${JSON.stringify(key)} has been invalidated: ` +
        'its OwnedProxy was disposed and the data evicted.',
    );
    // The same message from an ownership operation on it, not only from use.
    expect(thrown(() => borrow(owned)).message).toBe(error.message);
  });

  test('ReferenceInvalidError: a borrow marked out of scope says so and how that happens', async () => {
    const owned = await store.ownedProxy({ b: 2 });
    const key = (getFactory(owned) as StoreFactory).key;
    const ref = borrow(owned);
    markRefsOutOfScope(ref);
    const error = thrown(() => ref.b);
    expect(error).toBeInstanceOf(errors.ReferenceInvalidError);
    expect(error.message).toBe(
      `Reference to Store "${store.name}" key=${JSON.stringify(key)} has been invalidated: ` +
        'it went out of scope (markRefsOutOfScope, submit or dispose).',
    );
    await dispose(owned);
  });

  test('NonDeferrableConnectorError: Store.set and update() name the store, the operation and the connector', async () => {
    const local = new LocalConnector();
    class PlainConnector implements Connector<LocalKey> {
      put = local.put.bind(local);
      get = local.get.bind(local);
      putBatch = local.putBatch.bind(local);
      getBatch = local.getBatch.bind(local);
      exists = local.exists.bind(local);
      evict = local.evict.bind(local);
      config = local.config.bind(local);
      close = local.close.bind(local);
    }
    const plain = new Store('plain-store', new PlainConnector());
    const key = await plain.put({ v: 1 });
    const expected =
      'Store "plain-store": set needs a connector with newKey() and set(); PlainConnector has neither. ' +
      'Use a deferrable connector (Local, File, Redis, Endpoint, S3).';
    const set = await rejected(plain.set(key, { v: 2 }));
    expect(set).toBeInstanceOf(errors.NonDeferrableConnectorError);
    expect(set.message).toBe(expected);
    const owned = await plain.ownedProxy({ w: 1 });
    const viaUpdate = await rejected(update(owned));
    expect(viaUpdate).toBeInstanceOf(errors.NonDeferrableConnectorError);
    expect(viaUpdate.message).toBe(expected);
    // What @proxy/future's Future.create calls: the operation it names is the caller's.
    expect(thrown(() => requireDeferrable(plain, 'Future.create')).message).toMatch(
      /^Store "plain-store": Future\.create needs a connector with newKey\(\) and set\(\); PlainConnector has neither/,
    );
    await dispose(owned);
    await plain.evict(key);
    expect(local.size).toBe(0);
    await plain.close();
  });
});

test('ConnectorError: a failing fetch on the sync bridge names store, connector and key, with the client error as cause', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-errors-'));
  const store = new Store('broken-store', new AsyncDirConnector({ dir, failGet: true }), {
    cacheSize: 0,
  });
  try {
    const key = await store.put({ v: 1 });
    const error = thrown(() => store.getSync(key));
    expect(errors.ConnectorError.is(error)).toBe(true);
    expect(error.message).toBe(
      `Store "broken-store" (${store.connector.config().module}#AsyncDirConnector) failed to fetch ` +
        `key=${JSON.stringify(key)} on the sync bridge: disk unplugged`,
    );
    expect(error.cause).toMatchObject({ message: 'disk unplugged', code: 'EIO' });
    // A proxy's first use goes the same way and keeps the typed error.
    const p = store.proxyFromKey<{ v: number }>(key);
    const viaProxy = thrown(() => p.v);
    expect(errors.ConnectorError.is(viaProxy)).toBe(true);
    expect(viaProxy.message).toBe(error.message);
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
