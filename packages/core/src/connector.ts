/** A connector key: a small JSON object such as `{ redisKey }` or `{ filename }`. */
export type ConnectorKey = { readonly [field: string]: string | number | boolean | null };

/** How a process that has only a proxy rebuilds the connector: plain JSON. */
export interface ConnectorConfig {
  /** The package (or absolute path of a module) exporting the connector class. */
  module: string;
  /** The export name of the connector class. */
  type: string;
  /** Passed to the class's static `fromConfig`. Plain JSON. */
  options: Record<string, unknown>;
}

/** The byte-level contract every storage backend implements. */
export interface Connector<K extends ConnectorKey = ConnectorKey> {
  put(data: Uint8Array): Promise<K>;
  get(key: K): Promise<Uint8Array | null>;
  putBatch(data: Uint8Array[]): Promise<K[]>;
  getBatch(keys: K[]): Promise<(Uint8Array | null)[]>;
  exists(key: K): Promise<boolean>;
  /** Removes the object. Evicting a missing key is not an error. */
  evict(key: K): Promise<void>;
  config(): ConnectorConfig;
  close(): Promise<void>;
  /**
   * Stores the concatenation of `parts` (written in order, never joined in memory). The store
   * uses it to put framed raw bytes (`BS\n` + a caller's buffer) without copying them.
   */
  putParts?(parts: readonly Uint8Array[]): Promise<K>;
  /** A synchronous read; connectors that have one let proxies resolve without the worker bridge. */
  getSync?(key: K): Uint8Array | null;
  /** Throws `InvalidKeyError` when `key` is not a well-formed key of this connector. */
  validateKey?(key: unknown): asserts key is K;
  /** Evicts many keys at once (falls back to `evict` one by one). */
  evictBatch?(keys: K[]): Promise<void>;
  /** Native expiry: keeps the object at most `seconds` longer (used by leases). */
  expire?(key: K, seconds: number): Promise<void>;
}

/** A connector that can hand out a key before the data exists (futures, `update`). */
export interface DeferrableConnector<K extends ConnectorKey = ConnectorKey> extends Connector<K> {
  newKey(): Promise<K>;
  set(key: K, data: Uint8Array): Promise<void>;
  /** Resolves once `key` exists; rejects with `FutureTimeoutError` or the signal's reason. */
  waitFor?(key: K, options?: WaitOptions): Promise<void>;
}

export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The static side of a connector class, used to rebuild it from a config. */
export interface ConnectorClass<C extends Connector = Connector> {
  readonly name: string;
  /** The package that exports this class, e.g. `@proxy/connector-redis`. */
  readonly packageName: string;
  fromConfig(options: Record<string, unknown>): C;
}

export function isDeferrable<K extends ConnectorKey>(
  connector: Connector<K>,
): connector is DeferrableConnector<K> {
  const c = connector as Partial<DeferrableConnector<K>>;
  return typeof c.newKey === 'function' && typeof c.set === 'function';
}
