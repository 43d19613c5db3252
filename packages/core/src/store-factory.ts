import type { ConnectorKey } from './connector.js';
import { ProxyResolveMissingKeyError } from './errors.js';
import { type Factory, type FactoryData, registerFactoryType } from './factory.js';
import type { Deserializer } from './serialize.js';
import type { Store, StoreConfig } from './store.js';
import { getOrCreateStore } from './store-registry.js';

export interface StoreFactoryOptions {
  /** Evict the object from the store once resolved. */
  evict?: boolean;
  /** In-process only; not written when the factory is serialized. */
  deserializer?: Deserializer;
}

const MISSING: unique symbol = Symbol('missing');

/**
 * Resolves a key from a store. Carries only the key and the store's config, so it works in
 * any process: there it uses the registered store of that name, or builds and registers one.
 */
export class StoreFactory<T = unknown> implements Factory<T> {
  readonly evict: boolean;
  readonly deserializer: Deserializer | undefined;

  constructor(
    readonly key: ConnectorKey,
    readonly storeConfig: StoreConfig,
    options: StoreFactoryOptions = {},
    private store?: Store,
  ) {
    this.evict = options.evict ?? false;
    this.deserializer = options.deserializer;
  }

  getStore(): Store {
    this.store ??= getOrCreateStore(this.storeConfig);
    return this.store;
  }

  private missing(store: Store): ProxyResolveMissingKeyError {
    return new ProxyResolveMissingKeyError(this.key, store.name, store.connector.constructor.name);
  }

  resolve(): T {
    const store = this.getStore();
    const value = store.getSync<T, typeof MISSING>(this.key, {
      deserializer: this.deserializer,
      default: MISSING,
    });
    if (value === MISSING) throw this.missing(store);
    if (this.evict) store.evict(this.key).catch(() => {});
    return value;
  }

  async resolveAsync(): Promise<T> {
    const store = this.getStore();
    const value = await store.get<T, typeof MISSING>(this.key, {
      deserializer: this.deserializer,
      default: MISSING,
    });
    if (value === MISSING) throw this.missing(store);
    if (this.evict) await store.evict(this.key);
    return value;
  }

  toData(): FactoryData {
    return { type: 'store', key: this.key, storeConfig: this.storeConfig, evict: this.evict };
  }

  static fromData(data: FactoryData): StoreFactory {
    return new StoreFactory(data.key as ConnectorKey, data.storeConfig as StoreConfig, {
      evict: data.evict === true,
    });
  }
}

registerFactoryType('store', StoreFactory.fromData);
