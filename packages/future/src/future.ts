import {
  type ConnectorKey,
  createProxy,
  type Deserializer,
  formatKey,
  keyId,
  type Proxied,
  registerSerializable,
  requireDeferrable,
  SerializationError,
  type Serializer,
  type Shape,
  type Store,
} from '@proxy/core';
import { FutureAlreadySetError } from './errors.js';
import { type FutureData, FutureFactory, FutureState, futureDataFrom } from './future-factory.js';
import { checkTimeout, type PollingOptions, resolvePolling } from './polling.js';

export interface FutureOptions extends PollingOptions {
  /**
   * Evict the result once it has been read (`result()` or a proxy's first use, on this object or
   * on any copy), leaving a 25-byte tombstone so the future stays done and write-once. Default false.
   */
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

function isProxiable(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value !== 'boolean';
}

function shapeOf(value: unknown): Shape | undefined {
  if (Array.isArray(value)) return 'array';
  return typeof value === 'function' ? 'function' : undefined;
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
  #setting = false;
  /**
   * Shared with every proxy this object makes: the result once this process has set or read it
   * (later calls need no I/O), one fetch at a time, and an evicting read's tombstone.
   */
  readonly #state = new FutureState<T>();
  /** Reads for `result()`, through the same code and state as the proxies. */
  readonly #reader: FutureFactory<T>;

  private constructor(data: FutureData, options: FromJSONOptions) {
    this.key = data.key;
    this.evict = data.evict;
    this.timeoutMs = data.timeoutMs;
    this.#data = data;
    this.#serializer = options.serializer;
    this.#deserializer = options.deserializer;
    this.#reader = new FutureFactory<T>(data, options.deserializer, options.store, this.#state);
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
    return this.#reader.getStore();
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
   * key already exists, checked before writing). An evicting future's tombstone counts as set.
   */
  async setResult(value: T): Promise<void> {
    if (this.#setting || this.#state.known) {
      throw new FutureAlreadySetError(
        `${this.#describe()}: setResult was already called; a future holds one result. Create another future for another value.`,
      );
    }
    this.#setting = true;
    try {
      const store = this.store;
      if (await store.exists(this.key)) {
        throw new FutureAlreadySetError(
          `${this.#describe()} already has a result (set by another copy of this future, perhaps already read and evicted); a future holds one result.`,
        );
      }
      await store.set(this.key, value, { serializer: this.#serializer });
      this.#state.known = { value };
    } finally {
      this.#setting = false;
    }
  }

  /**
   * The result, waiting for it without blocking the event loop (the connector's `waitFor`,
   * else polling with backoff). Rejects with `FutureTimeoutError` after `timeoutMs`, or with
   * `signal.reason` when aborted. An evicting future is evicted on its first read here (even
   * when this object set the result); a copy reading after that gets
   * `ProxyResolveMissingKeyError`.
   */
  async result(options: ResultOptions = {}): Promise<T> {
    const timeoutMs = this.#state.known
      ? undefined
      : (checkTimeout('timeoutMs', options.timeoutMs) ?? this.timeoutMs);
    return this.#reader.read({ timeoutMs, signal: options.signal });
  }

  /** Whether the result has been set (in any process), also after an evicting read. Never waits. */
  async done(): Promise<boolean> {
    if (this.#state.known) return true;
    return this.store.exists(this.key);
  }

  /**
   * A proxy to the result. It can be created and passed around before the result exists; its
   * first use blocks until the result is set (or the timeout passes), and `await resolve(p)`
   * waits without blocking.
   */
  proxy(options: FutureProxyOptions = {}): Proxied<T> {
    const factory = new FutureFactory<T>(
      this.#data,
      this.#deserializer,
      this.#reader.knownStore(),
      this.#state,
    );
    const known = this.#state.known;
    if (known && isProxiable(known.value)) {
      // An evicting future's proxy resolves on first use, which is what consumes the result.
      if (!this.evict) return createProxy(factory, { target: known.value });
      return createProxy(factory, { shape: options.shape ?? shapeOf(known.value) });
    }
    return createProxy(factory, { shape: options.shape });
  }

  toString(): string {
    return `${this.#describe()}${this.#state.known ? ' (set)' : ''}`;
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
