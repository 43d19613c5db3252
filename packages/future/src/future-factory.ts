import {
  type ConnectorKey,
  type Deserializer,
  type Factory,
  type FactoryData,
  fetchSync,
  formatKey,
  getOrCreateStore,
  keyId,
  ProxyResolveError,
  ProxyResolveMissingKeyError,
  registerFactoryType,
  SerializationError,
  type Store,
  type StoreConfig,
} from '@proxy/core';
import { type Polling, resolvePolling } from './polling.js';
import { futureTimeout, waitForKey } from './wait-for-key.js';

/** Everything a future needs in another process. Plain JSON (functions never travel). */
export interface FutureData extends Polling {
  key: ConnectorKey;
  storeConfig: StoreConfig;
  /** Evict the result from the store once a consumer has read it. */
  evict: boolean;
  /** Default wait for `result()` and for the proxy; absent: async waits forever, sync waits `syncTimeoutMs`. */
  timeoutMs?: number;
}

/** The factory type name written into serialized proxies of futures. */
export const FUTURE_FACTORY_TYPE = 'future';

const MISSING: unique symbol = Symbol('missing');

function isLocalConnector(store: Store): boolean {
  const { module, type } = store.connector.config();
  return module === '@proxy/core' && type === 'LocalConnector';
}

/** Reads the data of a future from plain data (a deserialized proxy or `Future.fromJSON`). */
export function futureDataFrom(data: Record<string, unknown>): FutureData {
  const { key, storeConfig } = data;
  if (
    typeof key !== 'object' ||
    key === null ||
    typeof storeConfig !== 'object' ||
    storeConfig === null
  ) {
    throw new SerializationError(
      `Malformed future data (needs key and storeConfig): ${formatKey(data)}`,
    );
  }
  return {
    key: key as ConnectorKey,
    storeConfig: storeConfig as StoreConfig,
    evict: data.evict === true,
    ...resolvePolling(data as Partial<Polling>),
    ...(typeof data.timeoutMs === 'number' ? { timeoutMs: data.timeoutMs } : {}),
  };
}

/**
 * The factory behind `future.proxy()`: it waits for the key, then fetches. Synchronous first
 * use blocks on the core sync bridge (which runs the connector's `waitFor` in its worker);
 * `await resolve(proxy)` waits without blocking.
 */
export class FutureFactory<T = unknown> implements Factory<T> {
  constructor(
    readonly data: FutureData,
    readonly deserializer?: Deserializer,
    private store?: Store,
  ) {}

  getStore(): Store {
    this.store ??= getOrCreateStore(this.data.storeConfig);
    return this.store;
  }

  private deserialize(store: Store, bytes: Uint8Array): T {
    try {
      return (this.deserializer ?? store.deserializer)(bytes) as T;
    } catch (error) {
      throw new SerializationError(
        `Store "${store.name}": cannot deserialize the result of future key=${formatKey(this.data.key)}: ${(error as Error)?.message}`,
        { cause: error },
      );
    }
  }

  private finish(store: Store, value: T, bytes: number | undefined): T {
    if (this.data.evict) store.evict(this.data.key).catch(() => {});
    else if (bytes !== undefined) store.cache.set(keyId(this.data.key), value, bytes);
    return value;
  }

  resolve(): T {
    const store = this.getStore();
    const { key } = this.data;
    store.connector.validateKey?.(key);
    if (store.isCached(key) || store.connector.getSync) {
      const value = store.getSync<T, typeof MISSING>(key, {
        deserializer: this.deserializer,
        default: MISSING,
      });
      if (value !== MISSING) return this.finish(store, value, undefined);
    }
    if (isLocalConnector(store)) {
      // The producer would have to run on this very thread, which is blocked: waiting could only time out.
      throw new ProxyResolveError(
        `Future key=${formatKey(key)} in Store "${store.name}" (LocalConnector) has no result yet, and a blocking wait can never see one: ` +
          'LocalConnector data lives in this thread. Use `await resolve(proxy)` (or `await future.result()`) before using the proxy.',
      );
    }
    const waitMs = this.data.timeoutMs ?? store.syncTimeoutMs;
    const bytes = fetchSync(store.connector.config(), key, store.syncTimeoutMs, store.name, {
      waitMs,
    });
    if (bytes === null) throw futureTimeout(store, key, waitMs);
    return this.finish(store, this.deserialize(store, bytes), bytes.byteLength);
  }

  async resolveAsync(): Promise<T> {
    const store = this.getStore();
    const { key } = this.data;
    await waitForKey(store, key, { timeoutMs: this.data.timeoutMs, polling: this.data });
    const value = await store.get<T, typeof MISSING>(key, {
      deserializer: this.deserializer,
      default: MISSING,
    });
    if (value === MISSING)
      throw new ProxyResolveMissingKeyError(key, store.name, store.connector.constructor.name);
    if (this.data.evict) await store.evict(key);
    return value;
  }

  toData(): FactoryData {
    return { ...this.data, type: FUTURE_FACTORY_TYPE };
  }

  static fromData(data: FactoryData): FutureFactory {
    return new FutureFactory(futureDataFrom(data));
  }
}

registerFactoryType(FUTURE_FACTORY_TYPE, FutureFactory.fromData);
