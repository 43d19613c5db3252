import { randomUUID } from 'node:crypto';
import type { ConnectorConfig, DeferrableConnector, WaitOptions } from './connector.js';
import { FutureTimeoutError, formatKey, InvalidKeyError } from './errors.js';
import { assertStringKey, isUuid } from './keys.js';
import { checkWaitTimeout, type LongTimer, longTimeout } from './wait-timeout.js';

export interface LocalKey {
  readonly [field: string]: string;
  readonly id: string;
}

export interface LocalConnectorOptions {
  /**
   * Connectors with the same instance id share one in-memory map, so `fromConfig` in this
   * process reaches the same data. Generated when omitted.
   */
  instanceId?: string;
}

interface Instance {
  data: Map<string, Uint8Array>;
  /** Pending waitFor calls; shared like the data, so a set through any instance wakes them. */
  waiters: Map<string, Set<() => void>>;
}

const instances = new Map<string, Instance>();

function copyOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}

/**
 * In-memory, per-process connector (tests, single-process apps). Data never leaves the
 * process: a proxy from it resolves only where it was created.
 */
export class LocalConnector implements DeferrableConnector<LocalKey> {
  static readonly packageName = '@proxy/core';
  readonly instanceId: string;
  private readonly data: Map<string, Uint8Array>;
  private readonly waiters: Map<string, Set<() => void>>;

  constructor(options: LocalConnectorOptions = {}) {
    this.instanceId = options.instanceId ?? randomUUID();
    let instance = instances.get(this.instanceId);
    if (!instance) {
      instance = { data: new Map(), waiters: new Map() };
      instances.set(this.instanceId, instance);
    }
    this.data = instance.data;
    this.waiters = instance.waiters;
  }

  static fromConfig(options: Record<string, unknown>): LocalConnector {
    return new LocalConnector(options as LocalConnectorOptions);
  }

  validateKey(key: unknown): asserts key is LocalKey {
    assertStringKey(key, ['id'], 'LocalConnector');
    if (!isUuid((key as LocalKey).id))
      throw new InvalidKeyError(`LocalConnector key id must be a uuid; got ${formatKey(key)}`);
  }

  /** Keeps a copy: a caller changing its buffer later, or a reader changing what it got, never changes the stored value. */
  private store(id: string, bytes: Uint8Array): void {
    this.data.set(id, copyOf(bytes));
    this.wake(id);
  }

  private wake(id: string): void {
    const waiting = this.waiters.get(id);
    if (waiting) {
      this.waiters.delete(id);
      for (const wake of waiting) wake();
    }
  }

  async put(data: Uint8Array): Promise<LocalKey> {
    const key = { id: randomUUID() };
    this.store(key.id, data);
    return key;
  }

  /** `put` of the concatenation of `parts`, joined in the one copy `put` makes anyway. */
  async putParts(parts: readonly Uint8Array[]): Promise<LocalKey> {
    const key = { id: randomUUID() };
    this.data.set(key.id, Buffer.concat(parts));
    this.wake(key.id);
    return key;
  }

  async putBatch(data: Uint8Array[]): Promise<LocalKey[]> {
    return Promise.all(data.map((d) => this.put(d)));
  }

  /** A copy of the stored bytes (what a reader does with them never reaches the store). */
  getSync(key: LocalKey): Uint8Array | null {
    this.validateKey(key);
    const bytes = this.data.get(key.id);
    return bytes === undefined ? null : copyOf(bytes);
  }

  async get(key: LocalKey): Promise<Uint8Array | null> {
    return this.getSync(key);
  }

  async getBatch(keys: LocalKey[]): Promise<(Uint8Array | null)[]> {
    return keys.map((k) => this.getSync(k));
  }

  async exists(key: LocalKey): Promise<boolean> {
    this.validateKey(key);
    return this.data.has(key.id);
  }

  async evict(key: LocalKey): Promise<void> {
    this.validateKey(key);
    this.data.delete(key.id);
  }

  async newKey(): Promise<LocalKey> {
    return { id: randomUUID() };
  }

  async set(key: LocalKey, data: Uint8Array): Promise<void> {
    this.validateKey(key);
    this.store(key.id, data);
  }

  waitFor(key: LocalKey, options: WaitOptions = {}): Promise<void> {
    this.validateKey(key);
    checkWaitTimeout('LocalConnector', options.timeoutMs);
    if (this.data.has(key.id)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const { signal, timeoutMs } = options;
      if (signal?.aborted) return reject(signal.reason);
      let timer: LongTimer | undefined;
      const done = () => {
        timer?.clear();
        signal?.removeEventListener('abort', onAbort);
        const pending = this.waiters.get(key.id);
        pending?.delete(wake);
        if (pending?.size === 0) this.waiters.delete(key.id);
      };
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      const wake = () => {
        done();
        resolve();
      };
      let set = this.waiters.get(key.id);
      if (!set) {
        set = new Set();
        this.waiters.set(key.id, set);
      }
      set.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = longTimeout(() => {
          done();
          reject(
            new FutureTimeoutError(
              `LocalConnector: key=${formatKey(key)} was not set within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
      }
    });
  }

  /** Number of pending `waitFor` calls across keys (for tests that assert none is left behind). */
  get pendingWaits(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  /** Number of objects held (for tests that assert a store is empty). */
  get size(): number {
    return this.data.size;
  }

  config(): ConnectorConfig {
    return {
      module: '@proxy/core',
      type: 'LocalConnector',
      options: { instanceId: this.instanceId },
    };
  }

  async close(): Promise<void> {}
}
