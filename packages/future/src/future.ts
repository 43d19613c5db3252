import {
  type ConnectorKey,
  createProxy,
  type Deserializer,
  formatKey,
  getOrCreateStore,
  keyId,
  type Proxied,
  ProxyResolveMissingKeyError,
  registerSerializable,
  requireDeferrable,
  SerializationError,
  type Serializer,
  type Shape,
  type Store,
} from '@proxy/core';
import { FutureAlreadySetError } from './errors.js';
import { type FutureData, FutureFactory, futureDataFrom } from './future-factory.js';
import { checkTimeout, type PollingOptions, resolvePolling } from './polling.js';
import { waitForKey } from './wait-for-key.js';

export interface FutureOptions extends PollingOptions {
  /** Evict the result from the store once a consumer (`result()` or a proxy) has read it. Default false. */
  evict?: boolean;
  /** Serializer for `setResult` in this process (functions do not travel with the future). */
  serializer?: Serializer;
  /** Deserializer for `result()` and proxies made in this process. */
  deserializer?: Deserializer;
  /**
   * Default wait for `result()` and for the future's proxies, in every process the future
   * reaches. Default: `result()` waits forever; a blocking (synchronous) proxy resolution
   * waits the store's `syncTimeoutMs` (30 s), since a blocked thread must never hang silently.
   */
  timeoutMs?: number;
}

export interface ResultOptions {
  /** Overrides the future's `timeoutMs` for this call. */
  timeoutMs?: number;
  /** Aborting rejects with `signal.reason` (an `AbortError` by default). */
  signal?: AbortSignal;
}

/** In-process settings for a future rebuilt from `toJSON()` output. */
export interface FromJSONOptions {
  /** The store to use; default: the registered store of the config's name, else one built from the config. */
  store?: Store;
  serializer?: Serializer;
  deserializer?: Deserializer;
}

export interface FutureProxyOptions {
  /** Placeholder kind for the not-yet-known target (`'array'` makes `Array.isArray` true). Default `'object'`. */
  shape?: Shape;
}

/**
 * The CBOR tag under which the core serializer writes a `Future` object. It is part of stored
 * and transmitted data, so it never changes.
 */
export const FUTURE_TAG = 41_100;

const MISSING: unique symbol = Symbol('missing');

function isProxiable(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value !== 'boolean';
}

/**
 * A value that does not exist yet: a producer calls `setResult` once, in this or any other
 * process; consumers `await result()` or use `proxy()`, which blocks on first use until the
 * result is there. The key comes from the connector's `newKey()` (a `DeferrableConnector`).
 *
 * A `Future` is a plain object (not a proxy). It is serializable with the core serializer,
 * alone or nested in any value (a registered type, tag `FUTURE_TAG`), and with `toJSON`, so it
 * can be handed to the producer in another process.
 */
export class Future<T = unknown> {
  readonly key: ConnectorKey;
  readonly evict: boolean;
  readonly timeoutMs: number | undefined;
  readonly #data: FutureData;
  readonly #serializer: Serializer | undefined;
  readonly #deserializer: Deserializer | undefined;
  #store: Store | undefined;
  #setting = false;
  /** The result once this process has set or read it (later calls need no I/O). */
  #known: { value: T } | undefined;

  private constructor(data: FutureData, options: FromJSONOptions) {
    this.key = data.key;
    this.evict = data.evict;
    this.timeoutMs = data.timeoutMs;
    this.#data = data;
    this.#store = options.store;
    this.#serializer = options.serializer;
    this.#deserializer = options.deserializer;
  }

  /**
   * A new future on `store`. Its connector must be deferrable (`newKey` and `set`),
   * else `NonDeferrableConnectorError`.
   */
  static async create<T = unknown>(store: Store, options: FutureOptions = {}): Promise<Future<T>> {
    const connector = requireDeferrable(store, 'Future.create');
    const polling = resolvePolling(options);
    const timeoutMs = checkTimeout('timeoutMs', options.timeoutMs);
    const storeConfig = store.config();
    const start = performance.now();
    const key = await connector.newKey();
    store.metrics?.addTime('store.future', keyId(key), performance.now() - start);
    const data: FutureData = { key, storeConfig, evict: options.evict ?? false, ...polling };
    if (timeoutMs !== undefined) data.timeoutMs = timeoutMs;
    return new Future<T>(data, {
      store,
      serializer: options.serializer,
      deserializer: options.deserializer,
    });
  }

  /** Rebuilds a future from `toJSON()` output (an object or its JSON text). */
  static fromJSON<T = unknown>(
    json: FutureData | Record<string, unknown> | string,
    options: FromJSONOptions = {},
  ): Future<T> {
    let raw: unknown = json;
    if (typeof json === 'string') {
      try {
        raw = JSON.parse(json);
      } catch (error) {
        throw new SerializationError(
          `Malformed future data: not JSON (${(error as Error).message})`,
          {
            cause: error,
          },
        );
      }
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new SerializationError(
        `Malformed future data: expected an object, got ${formatKey(raw)}`,
      );
    }
    return new Future<T>(futureDataFrom(raw as Record<string, unknown>), options);
  }

  /** The store this future lives in (rebuilt from its config in a process that received it). */
  get store(): Store {
    this.#store ??= getOrCreateStore(this.#data.storeConfig);
    return this.#store;
  }

  /** Plain JSON that `Future.fromJSON` turns back into this future, in any process. */
  toJSON(): FutureData {
    return { ...this.#data };
  }

  #describe(): string {
    return `Future key=${formatKey(this.key)} in Store "${this.#data.storeConfig.name}"`;
  }

  /**
   * Stores the result and wakes every waiting consumer. A future holds one result: a second
   * call raises `FutureAlreadySetError` (always within this object; across processes when the
   * key already exists, checked before writing).
   */
  async setResult(value: T): Promise<void> {
    if (this.#setting || this.#known) {
      throw new FutureAlreadySetError(
        `${this.#describe()}: setResult was already called; a future holds one result. Create another future for another value.`,
      );
    }
    this.#setting = true;
    try {
      const store = this.store;
      if (await store.exists(this.key)) {
        throw new FutureAlreadySetError(
          `${this.#describe()} already has a result (set by another copy of this future); a future holds one result.`,
        );
      }
      await store.set(this.key, value, { serializer: this.#serializer });
      this.#known = { value };
    } finally {
      this.#setting = false;
    }
  }

  /**
   * The result, waiting for it without blocking the event loop (the connector's `waitFor`,
   * else polling with backoff). Rejects with `FutureTimeoutError` after `timeoutMs`, or with
   * `signal.reason` when aborted.
   */
  async result(options: ResultOptions = {}): Promise<T> {
    if (this.#known) return this.#known.value;
    const timeoutMs = checkTimeout('timeoutMs', options.timeoutMs) ?? this.timeoutMs;
    const store = this.store;
    await waitForKey(store, this.key, { timeoutMs, signal: options.signal, polling: this.#data });
    // setResult may have run in this process while we waited.
    const known = this.#known as { value: T } | undefined;
    if (known) return known.value;
    const value = await store.get<T, typeof MISSING>(this.key, {
      deserializer: this.#deserializer,
      default: MISSING,
    });
    if (value === MISSING)
      throw new ProxyResolveMissingKeyError(this.key, store.name, store.connector.constructor.name);
    if (this.evict) await store.evict(this.key);
    this.#known = { value };
    return value;
  }

  /** Whether the result has been set (in any process). Never waits. */
  async done(): Promise<boolean> {
    if (this.#known) return true;
    return this.store.exists(this.key);
  }

  /**
   * A proxy to the result. It can be created and passed around before the result exists; its
   * first use blocks until the result is set (or the timeout passes), and `await resolve(p)`
   * waits without blocking.
   */
  proxy(options: FutureProxyOptions = {}): Proxied<T> {
    const factory = new FutureFactory<T>(this.#data, this.#deserializer, this.#store);
    const known = this.#known;
    if (known && isProxiable(known.value)) return createProxy(factory, { target: known.value });
    return createProxy(factory, { shape: options.shape });
  }

  toString(): string {
    return `${this.#describe()}${this.#known ? ' (set)' : ''}`;
  }
}

// The core serializer writes a Future as its `toJSON()` data under FUTURE_TAG, wherever it sits
// in a value; a process that imported this package reads it back as a Future (never running
// code from the data: `fromJSON` validates it).
registerSerializable<Future>({
  Class: Future,
  tag: FUTURE_TAG,
  encode: (future) => future.toJSON(),
  decode: (data) => Future.fromJSON(data as Record<string, unknown>),
});
