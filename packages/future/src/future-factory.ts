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
const CONSUMED: unique symbol = Symbol('consumed');

/**
 * What an evicting read leaves under the key in place of the result (25 bytes): a tombstone
 * that keeps `exists` true, so `done()` stays true and a second `setResult` from any copy is
 * refused, while every later read learns that the result was consumed. `PF` is not a header of
 * the core serializer, so other readers (Python ProxyStore, `store.get`) reject it loudly
 * instead of returning a wrong value.
 */
export const CONSUMED_MARKER: Uint8Array = Buffer.from('PF\n@proxy/future:consumed');

export function isConsumedMarker(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(CONSUMED_MARKER);
}

/**
 * What a `Future` object and the proxies it made share in this process: the result once known
 * (set or read here), one fetch at a time, and the evicting read's tombstone, written once.
 */
export class FutureState<T> {
  known: { value: T } | undefined;
  fetching: Promise<T> | undefined;
  consumed: Promise<void> | undefined;
}

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
 * `await resolve(proxy)` waits without blocking. A `Future` reads through one of these too,
 * sharing its `FutureState` with the proxies it makes, so an evicting future is consumed once
 * whichever of them reads first.
 */
export class FutureFactory<T = unknown> implements Factory<T> {
  constructor(
    readonly data: FutureData,
    readonly deserializer?: Deserializer,
    private store?: Store,
    readonly state: FutureState<T> = new FutureState<T>(),
  ) {}

  getStore(): Store {
    this.store ??= getOrCreateStore(this.data.storeConfig);
    return this.store;
  }

  /** The store if this factory has it already (never builds one). */
  knownStore(): Store | undefined {
    return this.store;
  }

  private missing(store: Store): ProxyResolveMissingKeyError {
    return new ProxyResolveMissingKeyError(
      this.data.key,
      store.name,
      store.connector.constructor.name,
    );
  }

  /** The deserializer to read with: the tombstone of an evicting read becomes `CONSUMED`. */
  private reader(store: Store): Deserializer {
    const deserializer = this.deserializer ?? store.deserializer;
    return (bytes) => (isConsumedMarker(bytes) ? CONSUMED : deserializer(bytes));
  }

  private deserialize(store: Store, bytes: Uint8Array): T | typeof CONSUMED {
    try {
      return this.reader(store)(bytes) as T | typeof CONSUMED;
    } catch (error) {
      throw new SerializationError(
        `Store "${store.name}": cannot deserialize the result of future key=${formatKey(this.data.key)}: ${(error as Error)?.message}`,
        { cause: error },
      );
    }
  }

  /** Records a fetched value (or refuses a consumed or missing one). */
  private accept(store: Store, value: T | typeof CONSUMED | typeof MISSING): T {
    if (value === CONSUMED) {
      store.cache.delete(keyId(this.data.key));
      throw this.missing(store);
    }
    if (value === MISSING) throw this.missing(store);
    this.state.known = { value };
    return value;
  }

  /**
   * For an evicting future: replaces the result with the tombstone, once per shared state.
   * The cached copy goes at once, so no other reader in this process gets it in the meantime.
   */
  consume(): Promise<void> {
    if (!this.data.evict) return Promise.resolve();
    if (!this.state.consumed) {
      const store = this.getStore();
      store.cache.delete(keyId(this.data.key));
      this.state.consumed = store
        .set(this.data.key, CONSUMED_MARKER, { serializer: () => CONSUMED_MARKER })
        .catch((error: unknown) => {
          this.state.consumed = undefined;
          throw error;
        });
    }
    return this.state.consumed;
  }

  private finish(store: Store, value: T, bytes: number | undefined): T {
    if (this.data.evict) this.consume().catch(() => {});
    else if (bytes !== undefined) store.cache.set(keyId(this.data.key), value, bytes);
    return value;
  }

  resolve(): T {
    const store = this.getStore();
    const { key } = this.data;
    const known = this.state.known;
    if (known) return this.finish(store, known.value, undefined);
    store.connector.validateKey?.(key);
    if (store.isCached(key) || store.connector.getSync) {
      const value = store.getSync<T | typeof CONSUMED, typeof MISSING>(key, {
        deserializer: this.reader(store),
        default: MISSING,
      });
      if (value !== MISSING) return this.finish(store, this.accept(store, value), undefined);
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
    const value = this.accept(store, this.deserialize(store, bytes));
    return this.finish(store, value, bytes.byteLength);
  }

  /**
   * Waits for the result (without blocking), fetches it once however many callers share this
   * state, and consumes it when the future evicts.
   */
  async read(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    if (!this.state.known) {
      const store = this.getStore();
      await waitForKey(store, this.data.key, {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        polling: this.data,
      });
      // setResult or another read may have run in this process while we waited.
      if (!this.state.known) {
        this.state.fetching ??= this.fetch(store).finally(() => {
          this.state.fetching = undefined;
        });
        await this.state.fetching;
      }
    }
    const { value } = this.state.known!;
    await this.consume();
    return value;
  }

  private async fetch(store: Store): Promise<T> {
    const value = await store.get<T | typeof CONSUMED, typeof MISSING>(this.data.key, {
      deserializer: this.reader(store),
      default: MISSING,
    });
    return this.accept(store, value);
  }

  resolveAsync(): Promise<T> {
    return this.read({ timeoutMs: this.data.timeoutMs });
  }

  toData(): FactoryData {
    return { ...this.data, type: FUTURE_FACTORY_TYPE };
  }

  static fromData(data: FactoryData): FutureFactory {
    return new FutureFactory(futureDataFrom(data));
  }
}

registerFactoryType(FUTURE_FACTORY_TYPE, FutureFactory.fromData);
