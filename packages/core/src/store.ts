import type { Connector, ConnectorConfig, ConnectorKey } from './connector.js';
import { connectorClassFor, connectorFromConfig, registerConnector } from './connector-registry.js';
import { requireDeferrable } from './deferrable.js';
import { ConnectorError, formatKey, NonProxiableTypeError, SerializationError } from './errors.js';
import { keyId } from './keys.js';
import { LRUCache } from './lru-cache.js';
import { elapsedMs, type Metrics, StoreMetrics } from './metrics.js';
import { createProxy, type Proxied, ProxyLocker, type Shape, shapeOf } from './proxy.js';
import { intoOwned, type OwnedProxy, type OwnedProxyOptions } from './ref.js';
import {
  type Deserializer,
  deserialize,
  type Serializer,
  serialize,
  serializeParts,
} from './serialize.js';
import { StoreFactory } from './store-factory.js';
import { registerStore, unregisterStore } from './store-registry.js';
import { fetchSync } from './sync-bridge.js';

/** Anything that bounds how long stored keys live (see lifetimes). */
export interface LifetimeLike {
  addKey(key: ConnectorKey, store: Store): void;
}

export interface StoreOptions {
  /** Default serializer (ProxyStore framing: BS/US/CB). Not carried in `config()`. */
  serializer?: Serializer;
  /** Default deserializer. Not carried in `config()`. */
  deserializer?: Deserializer;
  /** Deserialized objects kept per process (LRU). 0 disables the cache. Default 16. */
  cacheSize?: number;
  /** Optional bound on the serialized bytes of cached objects. */
  cacheBytes?: number;
  /** Record per-operation timings and sizes. Default false. */
  metrics?: boolean;
  /** `proxy()` returns proxies that are already resolved in this process. Default true. */
  populateTarget?: boolean;
  /** Register in this process's store registry on construction. Default false. */
  register?: boolean;
  /** How long a blocking first use of a proxy may wait for its data. Default 30 s. */
  syncTimeoutMs?: number;
}

/** The plain-JSON description a proxy carries so any process can rebuild its store. */
export interface StoreConfig {
  name: string;
  connector: ConnectorConfig;
  cacheSize: number;
  cacheBytes?: number;
  metrics: boolean;
  populateTarget: boolean;
  register: boolean;
  syncTimeoutMs: number;
}

export interface PutOptions {
  serializer?: Serializer;
  lifetime?: LifetimeLike;
}

export interface GetOptions<D> {
  deserializer?: Deserializer;
  /** Returned when the key has no object. Default `null`. */
  default?: D;
}

export interface ProxyOptions {
  /** Evict the stored object when the proxy resolves (a one-shot proxy). */
  evict?: boolean;
  serializer?: Serializer;
  /** Used in this process only: a deserializer function does not cross processes. */
  deserializer?: Deserializer;
  populateTarget?: boolean;
  /** Return `null`, `undefined` and booleans as they are instead of throwing. */
  skipNonProxiable?: boolean;
  lifetime?: LifetimeLike;
}

export interface ProxyFromKeyOptions {
  evict?: boolean;
  deserializer?: Deserializer;
  /** Placeholder kind for a target not seen yet (`'array'` makes `Array.isArray` true). */
  shape?: Shape;
}

const DEFAULT_SYNC_TIMEOUT_MS = 30_000;

function isNonProxiable(obj: unknown): obj is null | undefined | boolean {
  return obj === null || obj === undefined || typeof obj === 'boolean';
}

/**
 * A named store over a connector: serialization, a per-process cache of deserialized
 * objects, metrics, and proxies whose factories know how to rebuild the store anywhere.
 */
export class Store<C extends Connector = Connector> {
  readonly name: string;
  readonly connector: C;
  readonly cache: LRUCache<unknown>;
  readonly metrics: StoreMetrics | undefined;
  readonly serializer: Serializer;
  readonly deserializer: Deserializer;
  readonly populateTarget: boolean;
  readonly syncTimeoutMs: number;
  private readonly registered: boolean;
  private closed = false;

  constructor(name: string, connector: C, options: StoreOptions = {}) {
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError('Store name must be a non-empty string');
    this.name = name;
    this.connector = connector;
    this.cache = new LRUCache(options.cacheSize ?? 16, options.cacheBytes);
    this.metrics = options.metrics ? new StoreMetrics() : undefined;
    this.serializer = options.serializer ?? serialize;
    this.deserializer = options.deserializer ?? deserialize;
    this.populateTarget = options.populateTarget ?? true;
    this.syncTimeoutMs = options.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS;
    this.registered = options.register ?? false;
    const cls = connector.constructor as { packageName?: unknown };
    if (typeof cls.packageName === 'string') registerConnector(connector.constructor as never);
    if (this.registered) registerStore(this as Store);
  }

  /** Rebuilds a store from `config()` output, in this or any process. */
  static fromConfig(config: StoreConfig): Store {
    const connector = connectorFromConfig(config.connector);
    return new Store(config.name, connector, {
      cacheSize: config.cacheSize,
      cacheBytes: config.cacheBytes,
      metrics: config.metrics,
      populateTarget: config.populateTarget,
      register: config.register,
      syncTimeoutMs: config.syncTimeoutMs,
    });
  }

  config(): StoreConfig {
    const connector = this.connector.config();
    connectorClassFor(connector);
    return {
      name: this.name,
      connector,
      cacheSize: this.cache.maxSize,
      ...(Number.isFinite(this.cache.maxBytes) ? { cacheBytes: this.cache.maxBytes } : {}),
      metrics: this.metrics !== undefined,
      populateTarget: this.populateTarget,
      register: this.registered,
      syncTimeoutMs: this.syncTimeoutMs,
    };
  }

  private time(name: string, key: string, start: number): void {
    this.metrics?.addTime(name, key, elapsedMs(start));
  }

  private serializeWith(obj: unknown, serializer: Serializer): Uint8Array {
    const bytes = serializer(obj);
    if (!(bytes instanceof Uint8Array)) {
      throw new SerializationError(
        `Store "${this.name}": the serializer must return a Uint8Array, got ${typeof bytes}`,
      );
    }
    return bytes;
  }

  private deserializeWith(
    bytes: Uint8Array,
    key: ConnectorKey,
    deserializer: Deserializer,
  ): unknown {
    try {
      return deserializer(bytes);
    } catch (error) {
      const detail = SerializationError.is(error)
        ? (error as Error).message
        : `deserializer threw: ${(error as Error)?.message}`;
      throw new SerializationError(
        `Store "${this.name}": cannot deserialize object with key=${formatKey(key)}: ${detail}`,
        {
          cause: error,
        },
      );
    }
  }

  async put(obj: unknown, options: PutOptions = {}): Promise<ConnectorKey> {
    const start = performance.now();
    const serializer = options.serializer ?? this.serializer;
    let size: number;
    let pending: Promise<ConnectorKey>;
    let serialized: number;
    if (serializer === serialize && this.connector.putParts) {
      // Raw bytes reach the connector as [header, caller's buffer]: no framing copy.
      const parts = serializeParts(obj);
      serialized = performance.now();
      size = parts.reduce((n, p) => n + p.byteLength, 0);
      pending = this.connector.putParts(parts);
    } else {
      const bytes = this.serializeWith(obj, serializer);
      serialized = performance.now();
      size = bytes.byteLength;
      pending = this.connector.put(bytes);
    }
    const key = await pending;
    if (this.metrics) {
      const id = keyId(key);
      this.metrics.addTime('store.put.serialize', id, serialized - start);
      this.time('store.put.connector', id, serialized);
      this.time('store.put', id, start);
      this.metrics.addAttribute('store.put.object_size', id, size);
    }
    options.lifetime?.addKey(key, this as Store);
    return key;
  }

  async putBatch(objs: readonly unknown[], options: PutOptions = {}): Promise<ConnectorKey[]> {
    const start = performance.now();
    const serializer = options.serializer ?? this.serializer;
    const data = objs.map((obj) => this.serializeWith(obj, serializer));
    const serialized = performance.now();
    const keys = await this.connector.putBatch(data);
    if (this.metrics) {
      const id = keys.map(keyId).join('|');
      this.metrics.addTime('store.put_batch.serialize', id, serialized - start);
      this.time('store.put_batch.connector', id, serialized);
      this.time('store.put_batch', id, start);
    }
    if (options.lifetime) for (const key of keys) options.lifetime.addKey(key, this as Store);
    return keys;
  }

  private cached(id: string): { hit: true; value: unknown } | { hit: false } {
    const hit = this.cache.has(id);
    const value = this.cache.get(id);
    this.metrics?.addCounter(hit ? 'store.get.cache_hits' : 'store.get.cache_misses', id);
    return hit ? { hit, value } : { hit };
  }

  private finishGet(
    key: ConnectorKey,
    id: string,
    bytes: Uint8Array,
    deserializer: Deserializer,
    start: number,
  ): unknown {
    if (!(bytes instanceof Uint8Array)) {
      const type =
        typeof bytes === 'object' && bytes !== null
          ? ((bytes as object).constructor?.name ?? 'object')
          : typeof bytes;
      throw new ConnectorError(
        `Store "${this.name}": ${this.connector.constructor.name}.get returned a value of type ${type} for key=${formatKey(key)}, not bytes: connectors must return a Uint8Array (a Buffer is one) or null.`,
      );
    }
    const before = performance.now();
    const value = this.deserializeWith(bytes, key, deserializer);
    if (this.metrics) {
      this.time('store.get.deserialize', id, before);
      this.time('store.get', id, start);
      this.metrics.addAttribute('store.get.object_size', id, bytes.byteLength);
    }
    this.cache.set(id, value, bytes.byteLength);
    return value;
  }

  /** The object behind `key`, or `options.default` (else `null`) when there is none. */
  async get<T = unknown, D = null>(key: ConnectorKey, options: GetOptions<D> = {}): Promise<T | D> {
    const start = performance.now();
    this.connector.validateKey?.(key);
    const id = keyId(key);
    const cached = this.cached(id);
    if (cached.hit) return cached.value as T;
    const before = performance.now();
    const bytes = await this.connector.get(key);
    this.time('store.get.connector', id, before);
    if (bytes === null) return (options.default ?? null) as D;
    return this.finishGet(key, id, bytes, options.deserializer ?? this.deserializer, start) as T;
  }

  /**
   * `get`, blocking: through the connector's `getSync`, else the shared worker-thread bridge.
   * Returns `options.default` (else `null`) when there is no object.
   */
  getSync<T = unknown, D = null>(key: ConnectorKey, options: GetOptions<D> = {}): T | D {
    const start = performance.now();
    this.connector.validateKey?.(key);
    const id = keyId(key);
    const cached = this.cached(id);
    if (cached.hit) return cached.value as T;
    const before = performance.now();
    const bytes = this.connector.getSync
      ? this.connector.getSync(key)
      : fetchSync(this.connector.config(), key, this.syncTimeoutMs, this.name);
    this.time('store.get.connector', id, before);
    if (bytes === null) return (options.default ?? null) as D;
    return this.finishGet(key, id, bytes, options.deserializer ?? this.deserializer, start) as T;
  }

  async exists(key: ConnectorKey): Promise<boolean> {
    const start = performance.now();
    this.connector.validateKey?.(key);
    const id = keyId(key);
    if (this.cache.has(id)) return true;
    const found = await this.connector.exists(key);
    this.time('store.exists', id, start);
    return found;
  }

  async evict(key: ConnectorKey): Promise<void> {
    const start = performance.now();
    this.connector.validateKey?.(key);
    const id = keyId(key);
    this.cache.delete(id);
    await this.connector.evict(key);
    this.time('store.evict', id, start);
  }

  isCached(key: ConnectorKey): boolean {
    return this.cache.has(keyId(key));
  }

  /** Overwrites the object behind an existing key (deferrable connectors only). */
  async set(
    key: ConnectorKey,
    obj: unknown,
    options: { serializer?: Serializer } = {},
  ): Promise<void> {
    const connector = requireDeferrable(this as Store, 'set');
    const start = performance.now();
    const bytes = this.serializeWith(obj, options.serializer ?? this.serializer);
    await connector.set(key, bytes);
    this.cache.delete(keyId(key));
    this.time('store.set', keyId(key), start);
  }

  private factoryFor<T>(
    key: ConnectorKey,
    evict: boolean,
    deserializer?: Deserializer,
  ): StoreFactory<T> {
    return new StoreFactory<T>(key, this.config(), { evict, deserializer }, this as Store);
  }

  /** A proxy for a key that already has an object; it resolves on first use. */
  proxyFromKey<T>(key: ConnectorKey, options: ProxyFromKeyOptions = {}): Proxied<T> {
    this.connector.validateKey?.(key);
    return createProxy(this.factoryFor<T>(key, options.evict ?? false, options.deserializer), {
      shape: options.shape,
    });
  }

  /**
   * Puts `obj` and returns a proxy to it. With `populateTarget` (the default) the proxy is
   * already resolved here; any process that receives it fetches from the store.
   */
  async proxy<T>(
    obj: T,
    options: ProxyOptions & { skipNonProxiable: true },
  ): Promise<Proxied<T> | T>;
  async proxy<T>(obj: T, options?: ProxyOptions): Promise<Proxied<T>>;
  async proxy<T>(obj: T, options: ProxyOptions = {}): Promise<Proxied<T> | T> {
    if (options.evict && options.lifetime) {
      throw new TypeError(
        `Store "${this.name}": evict and lifetime are mutually exclusive (a lifetime decides when the object is evicted).`,
      );
    }
    if (isNonProxiable(obj)) {
      if (options.skipNonProxiable) return obj;
      throw new NonProxiableTypeError(
        `Store "${this.name}": ${obj} cannot be proxied (null, undefined and booleans have no object form); pass skipNonProxiable to get it back as-is.`,
      );
    }
    const start = performance.now();
    const key = await this.put(obj, { serializer: options.serializer, lifetime: options.lifetime });
    const proxy = this.proxyForPut(obj, key, options);
    this.time('store.proxy', keyId(key), start);
    return proxy;
  }

  private proxyForPut<T>(obj: T, key: ConnectorKey, options: ProxyOptions): Proxied<T> {
    const factory = this.factoryFor<T>(key, options.evict ?? false, options.deserializer);
    const populate = options.populateTarget ?? this.populateTarget;
    return createProxy(factory, populate ? { target: obj } : { shape: shapeOf(obj) });
  }

  /** `proxy` for many objects with one `putBatch`; non-proxiable items stay in place when skipped. */
  async proxyBatch<T>(objs: readonly T[], options: ProxyOptions = {}): Promise<(Proxied<T> | T)[]> {
    const indices: number[] = [];
    const items: T[] = [];
    objs.forEach((obj, i) => {
      if (isNonProxiable(obj)) {
        if (!options.skipNonProxiable) {
          throw new NonProxiableTypeError(
            `Store "${this.name}": item ${i} (${obj}) cannot be proxied; pass skipNonProxiable.`,
          );
        }
      } else {
        indices.push(i);
        items.push(obj);
      }
    });
    const keys = await this.putBatch(items, {
      serializer: options.serializer,
      lifetime: options.lifetime,
    });
    const out: (Proxied<T> | T)[] = [...objs];
    keys.forEach((key, j) => {
      out[indices[j]!] = this.proxyForPut(items[j]!, key, options);
    });
    return out;
  }

  /** A proxy wrapped in a `ProxyLocker`, so nothing resolves it by accident. */
  async lockedProxy<T>(obj: T, options: ProxyOptions = {}): Promise<ProxyLocker<T>> {
    return new ProxyLocker(await this.proxy(obj, options));
  }

  /**
   * Puts `obj` and returns the single `OwnedProxy` of it (ProxyStore's `owned_proxy`: a
   * non-evicting proxy turned into an owner). The data is evicted when the owner is disposed
   * or garbage-collected. `null`, `undefined` and booleans come back as they are unless
   * `skipNonProxiable: false`.
   */
  async ownedProxy<T>(
    obj: T,
    options: OwnedProxyOptions = {},
  ): Promise<T extends null | undefined | boolean ? T : OwnedProxy<T>> {
    type Out = T extends null | undefined | boolean ? T : OwnedProxy<T>;
    const skipNonProxiable = options.skipNonProxiable ?? true;
    if (isNonProxiable(obj) && skipNonProxiable) return obj as Out;
    const proxy = await this.proxy(obj, { ...options, evict: false, skipNonProxiable });
    return intoOwned<T>(proxy) as Out;
  }

  /** Recorded metrics for a key, or undefined (metrics off, or nothing recorded). */
  metricsFor(key: ConnectorKey): Metrics | undefined {
    return this.metrics?.getMetrics(keyId(key));
  }

  /** Unregisters the store (if it registered itself) and closes the connector. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.registered) unregisterStore(this.name);
    this.cache.clear();
    await this.connector.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toString(): string {
    return `Store(name="${this.name}", connector=${this.connector.constructor.name})`;
  }
}
