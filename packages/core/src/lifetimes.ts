import { randomUUID } from 'node:crypto';
import type { ConnectorKey } from './connector.js';
import { formatKey, ProxyStoreError } from './errors.js';
import { keyId } from './keys.js';
import { proxyState } from './proxy.js';
import { type LifetimeLike, Store } from './store.js';
import { StoreFactory } from './store-factory.js';

/** Bounds how long stored objects live: every key added is evicted when the lifetime ends. */
export interface Lifetime extends LifetimeLike {
  readonly name: string;
  addKey(key: ConnectorKey, store?: Store): void;
  addProxy(...proxies: unknown[]): void;
  /** Evicts every key (once; later calls return the same promise). */
  close(options?: CloseOptions): Promise<void>;
  done(): boolean;
}

export interface CloseOptions {
  /** Also close every store a key was added with. Default false (true for StaticLifetime at exit). */
  closeStores?: boolean;
}

export interface LifetimeOptions {
  /** For messages and debugging; a uuid when omitted. */
  name?: string;
}

async function evictWithFreshStore(store: Store, keys: ConnectorKey[]): Promise<unknown[]> {
  let fresh: Store;
  try {
    fresh = Store.fromConfig({ ...store.config(), register: false });
  } catch (error) {
    return [error];
  }
  try {
    const results = await Promise.allSettled(keys.map((key) => fresh.evict(key)));
    return results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
  } finally {
    await fresh.close().catch(() => {});
  }
}

/**
 * The shared machinery: keys grouped by store, one-shot close, and what happens to a key
 * added after the end (evicted at once, then an error: nothing outlives its lifetime).
 */
abstract class BaseLifetime implements Lifetime {
  readonly name: string;
  protected readonly keys = new Map<Store, Map<string, ConnectorKey>>();
  private closing: Promise<void> | undefined;
  /** Work started by sync calls (native expiry, early evictions), awaited by `close`. */
  protected readonly pending = new Set<Promise<unknown>>();

  constructor(options: LifetimeOptions = {}) {
    this.name = options.name ?? randomUUID();
  }

  protected abstract get label(): string;

  protected abstract defaultStore(): Store | undefined;

  protected track(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  addKey(key: ConnectorKey, store?: Store): void {
    const target = store ?? this.defaultStore();
    if (!target) {
      throw new TypeError(`${this.label}.addKey needs the store the key belongs to.`);
    }
    if (this.closing) {
      // The object is already stored (put() adds keys after writing): evict it rather than
      // leave data no lifetime will ever remove.
      this.track(target.evict(key));
      throw new ProxyStoreError(
        `${this.label} "${this.name}" has ended; key=${formatKey(key)} of Store "${target.name}" was evicted instead of added. Use a new lifetime.`,
      );
    }
    let forStore = this.keys.get(target);
    if (!forStore) {
      forStore = new Map();
      this.keys.set(target, forStore);
    }
    forStore.set(keyId(key), key);
    this.keyAdded(key, target);
  }

  /** Hook for leases (native expiry). */
  protected keyAdded(_key: ConnectorKey, _store: Store): void {}

  /** Adds the keys behind store proxies. Ownership proxies are refused: they evict themselves. */
  addProxy(...proxies: unknown[]): void {
    const found = proxies.map((proxy) => {
      const state = proxyState(proxy);
      if (!state || !(state.factory instanceof StoreFactory)) {
        throw new TypeError(`${this.label}.addProxy expects proxies created by a Store.`);
      }
      if (state.kind !== 'proxy') {
        throw new TypeError(
          `${this.label}.addProxy: ownership proxies (${state.kind}) manage their own data; lifetimes and ownership are mutually exclusive.`,
        );
      }
      return state.factory;
    });
    for (const factory of found) this.addKey(factory.key, factory.getStore());
  }

  done(): boolean {
    return this.closing !== undefined;
  }

  /** Number of keys this lifetime will evict. */
  get size(): number {
    let n = 0;
    for (const keys of this.keys.values()) n += keys.size;
    return n;
  }

  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.evictAll(options.closeStores ?? false);
    return this.closing;
  }

  protected willClose(): void {}

  private async evictAll(closeStores: boolean): Promise<void> {
    this.willClose();
    await Promise.allSettled([...this.pending]);
    const failures: unknown[] = [];
    await Promise.all(
      [...this.keys].map(async ([store, keys]) => {
        const list = [...keys.values()];
        const results = await Promise.allSettled(list.map((key) => store.evict(key)));
        const left = list.filter((_, i) => results[i]!.status === 'rejected');
        if (left.length > 0) {
          // Typically the application closed the store before the lifetime ended (a static
          // lifetime at exit): evict through a short-lived store rebuilt from its config.
          const errors = await evictWithFreshStore(store, left);
          failures.push(...errors);
        }
        if (closeStores) await store.close().catch((error: unknown) => failures.push(error));
      }),
    );
    this.keys.clear();
    if (failures.length > 0) {
      throw new ProxyStoreError(
        `${this.label} "${this.name}": ${failures.length} eviction(s) failed; the first: ${(failures[0] as Error)?.message}`,
        { cause: failures[0] },
      );
    }
  }

  /** For `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Evicts its keys when closed: `await using lifetime = new ContextLifetime(store)` (or
 * `using`, which starts the eviction; `await lifetime.close()` waits for it).
 */
export class ContextLifetime extends BaseLifetime {
  constructor(
    readonly store: Store,
    options: LifetimeOptions = {},
  ) {
    super(options);
  }

  protected get label(): string {
    return 'ContextLifetime';
  }

  protected defaultStore(): Store {
    return this.store;
  }

  /** For `using`: starts the eviction; errors are kept for `close()` to report. */
  [Symbol.dispose](): void {
    this.close().catch(() => {});
  }
}

export interface LeaseLifetimeOptions extends LifetimeOptions {
  /** How long the lease lasts from now, in milliseconds. */
  expiryMs: number;
  /**
   * Let the process exit before the lease ends (the timer is unref'd). Default false: like
   * any pending timer, a lease keeps the process alive until it expires or is closed.
   */
  unref?: boolean;
}

function checkMs(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(
      `${what} must be a finite number of milliseconds >= 0; got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Evicts its keys when the lease expires; `extend()` pushes the expiry out. Where the
 * connector has native expiry (`expire(key, seconds)`, e.g. Redis), each key also gets a TTL
 * matching the lease, so the data goes even if this process dies first.
 */
export class LeaseLifetime extends BaseLifetime {
  readonly store: Store;
  private expiresAt: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly unref: boolean;

  constructor(store: Store, options: LeaseLifetimeOptions) {
    super(options);
    this.store = store;
    this.unref = options?.unref ?? false;
    this.expiresAt = Date.now() + checkMs(options?.expiryMs, 'LeaseLifetime expiryMs');
    this.schedule();
  }

  protected get label(): string {
    return 'LeaseLifetime';
  }

  protected defaultStore(): Store {
    return this.store;
  }

  /** Milliseconds until the lease ends (0 once ended). */
  remainingMs(): number {
    return this.done() ? 0 : Math.max(0, this.expiresAt - Date.now());
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.close().catch(() => {});
    }, this.remainingMs());
    if (this.unref) this.timer.unref();
  }

  private nativeExpire(key: ConnectorKey, store: Store): Promise<void> | undefined {
    const expire = store.connector.expire;
    if (typeof expire !== 'function') return undefined;
    // Rounded up: the native TTL may outlast the lease by under a second, never undercut it.
    const seconds = Math.max(1, Math.ceil(this.remainingMs() / 1000));
    return expire.call(store.connector, key, seconds);
  }

  protected override keyAdded(key: ConnectorKey, store: Store): void {
    const pending = this.nativeExpire(key, store);
    if (pending) this.track(pending);
  }

  /**
   * Extends the lease: a number adds that many milliseconds to the current expiry, a `Date`
   * sets it. Resolves once native TTLs (where supported) are updated.
   */
  async extend(by: number | Date): Promise<void> {
    if (this.done()) {
      throw new ProxyStoreError(`LeaseLifetime "${this.name}" has ended; it cannot be extended.`);
    }
    this.expiresAt = by instanceof Date ? by.getTime() : this.expiresAt + checkMs(by, 'extend()');
    this.schedule();
    const updates: Promise<void>[] = [];
    for (const [store, keys] of this.keys) {
      for (const key of keys.values()) {
        const pending = this.nativeExpire(key, store);
        if (pending) updates.push(pending);
      }
    }
    await Promise.all(updates);
  }

  protected override willClose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** For `using`: ends the lease early (starts the eviction). */
  [Symbol.dispose](): void {
    this.close().catch(() => {});
  }
}

const atExit = new Map<Lifetime, CloseOptions>();
let exitHookInstalled = false;

function onBeforeExit(): void {
  const lifetimes = [...atExit];
  atExit.clear();
  // Async work here keeps the process alive until it is done; the loop then drains again.
  for (const [lifetime, options] of lifetimes) lifetime.close(options).catch(() => {});
}

/**
 * Closes `lifetime` when this process is about to exit normally (its event loop drained).
 * `process.exit()` and fatal signals skip it: close the lifetime yourself first, or use a
 * lease with native expiry for data that must not outlive a crash.
 */
export function registerLifetimeAtExit(
  lifetime: Lifetime,
  options: CloseOptions = { closeStores: true },
): void {
  atExit.set(lifetime, options);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('beforeExit', onBeforeExit);
  }
}

let staticInstance: StaticLifetime | undefined;

/**
 * The process-wide lifetime: its keys are evicted (and their stores closed) when the
 * process exits normally. A singleton: `StaticLifetime.instance()`.
 */
export class StaticLifetime extends BaseLifetime {
  private constructor() {
    super({ name: 'static' });
    registerLifetimeAtExit(this, { closeStores: true });
  }

  static instance(): StaticLifetime {
    staticInstance ??= new StaticLifetime();
    return staticInstance;
  }

  protected get label(): string {
    return 'StaticLifetime';
  }

  protected defaultStore(): undefined {
    return undefined;
  }
}
