// Real connectors for tests, built on core's LocalConnector: one that counts its `exists`,
// `waitFor` and `set` calls, one that has `newKey`/`set` but no `waitFor` (so futures poll), and one that
// is not deferrable at all.
import {
  type Connector,
  type ConnectorConfig,
  LocalConnector,
  type LocalKey,
  type WaitOptions,
} from '@proxy/core';

export class CountingLocalConnector extends LocalConnector {
  existsCalls = 0;
  waitForCalls = 0;
  setCalls = 0;
  override set(key: LocalKey, data: Uint8Array): Promise<void> {
    this.setCalls++;
    return super.set(key, data);
  }
  override exists(key: LocalKey): Promise<boolean> {
    this.existsCalls++;
    return super.exists(key);
  }
  override waitFor(key: LocalKey, options?: WaitOptions): Promise<void> {
    this.waitForCalls++;
    return super.waitFor(key, options);
  }
}

/** The plain Connector part of a LocalConnector, forwarded (no newKey/set, no waitFor). */
class ForwardingConnector implements Connector<LocalKey> {
  readonly inner: LocalConnector;
  constructor(options: { instanceId?: string } = {}) {
    this.inner = new LocalConnector(options);
  }
  validateKey(key: unknown): asserts key is LocalKey {
    this.inner.validateKey(key);
  }
  put(data: Uint8Array) {
    return this.inner.put(data);
  }
  putBatch(data: Uint8Array[]) {
    return this.inner.putBatch(data);
  }
  get(key: LocalKey) {
    return this.inner.get(key);
  }
  getBatch(keys: LocalKey[]) {
    return this.inner.getBatch(keys);
  }
  exists(key: LocalKey) {
    return this.inner.exists(key);
  }
  evict(key: LocalKey) {
    return this.inner.evict(key);
  }
  config(): ConnectorConfig {
    const cls = this.constructor as { packageName?: string; name: string };
    return {
      module: cls.packageName ?? '',
      type: cls.name,
      options: { instanceId: this.inner.instanceId },
    };
  }
  async close(): Promise<void> {}
}

/** Deferrable (newKey/set) but without waitFor, so futures poll; records its `exists` calls. */
export class PollingLocalConnector extends ForwardingConnector {
  static readonly packageName = '@proxy/future-test';
  /** `performance.now()` of every `exists` call. */
  readonly existsTimes: number[] = [];
  /** Called after each `exists` call (tests wait on it instead of sleeping). */
  onExists: (() => void) | undefined;

  static fromConfig(options: Record<string, unknown>): PollingLocalConnector {
    return new PollingLocalConnector(options);
  }
  override async exists(key: LocalKey) {
    this.existsTimes.push(performance.now());
    const found = await this.inner.exists(key);
    this.onExists?.();
    return found;
  }
  newKey() {
    return this.inner.newKey();
  }
  set(key: LocalKey, data: Uint8Array) {
    return this.inner.set(key, data);
  }
}

/** Not deferrable at all: futures refuse it. */
export class PutOnlyConnector extends ForwardingConnector {
  static readonly packageName = '@proxy/future-test';
  static fromConfig(options: Record<string, unknown>): PutOnlyConnector {
    return new PutOnlyConnector(options);
  }
}
