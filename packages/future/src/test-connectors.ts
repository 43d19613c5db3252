// Real connectors for tests, built on core's LocalConnector: one that has `newKey`/`set` but no
// `waitFor` (so futures poll), and one that is not deferrable at all.
import { type Connector, type ConnectorConfig, LocalConnector, type LocalKey } from '@proxy/core';

export class PollingLocalConnector implements Connector<LocalKey> {
  static readonly packageName = '@proxy/future-test';
  readonly inner: LocalConnector;
  existsCalls = 0;

  constructor(options: { instanceId?: string } = {}) {
    this.inner = new LocalConnector(options);
  }
  static fromConfig(options: Record<string, unknown>): PollingLocalConnector {
    return new PollingLocalConnector(options);
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
    this.existsCalls++;
    return this.inner.exists(key);
  }
  evict(key: LocalKey) {
    return this.inner.evict(key);
  }
  newKey() {
    return this.inner.newKey();
  }
  set(key: LocalKey, data: Uint8Array) {
    return this.inner.set(key, data);
  }
  config(): ConnectorConfig {
    return {
      module: PollingLocalConnector.packageName,
      type: 'PollingLocalConnector',
      options: { instanceId: this.inner.instanceId },
    };
  }
  async close(): Promise<void> {}
}

export class PutOnlyConnector implements Connector<LocalKey> {
  static readonly packageName = '@proxy/future-test';
  readonly inner = new LocalConnector();
  static fromConfig(): PutOnlyConnector {
    return new PutOnlyConnector();
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
    return { module: PutOnlyConnector.packageName, type: 'PutOnlyConnector', options: {} };
  }
  async close(): Promise<void> {}
}
