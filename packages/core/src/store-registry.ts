import { StoreExistsError } from './errors.js';
import { proxyState } from './proxy.js';
import { Store, type StoreConfig } from './store.js';

const stores = new Map<string, Store>();

/** Makes `store` the one every factory of its name uses in this process. */
export function registerStore(store: Store, options: { existOk?: boolean } = {}): void {
  const existing = stores.get(store.name);
  if (existing && existing !== store && !options.existOk) {
    throw new StoreExistsError(
      `A store named "${store.name}" is already registered in this process. Use getStore("${store.name}") to reuse it, pass { existOk: true } to replace it, or pick another name.`,
    );
  }
  stores.set(store.name, store);
}

/** The registered store of that name, or of that proxy's factory; undefined when none. */
export function getStore(nameOrProxy: string | object): Store | undefined {
  if (typeof nameOrProxy === 'string') return stores.get(nameOrProxy);
  const factory = proxyState(nameOrProxy)?.factory as { getStore?: () => Store } | undefined;
  if (typeof factory?.getStore !== 'function') {
    throw new TypeError('getStore() expects a store name or a proxy created by a Store');
  }
  return factory.getStore();
}

/** Removes a store from the registry (a no-op when absent). Does not close it. */
export function unregisterStore(nameOrStore: string | Store): void {
  const name = typeof nameOrStore === 'string' ? nameOrStore : nameOrStore.name;
  if (typeof nameOrStore !== 'string' && stores.get(name) !== nameOrStore) return;
  stores.delete(name);
}

/** The registered store named in `config`, or a new one built from it (and registered). */
export function getOrCreateStore(config: StoreConfig, options: { register?: boolean } = {}): Store {
  const existing = stores.get(config.name);
  if (existing) return existing;
  const store = Store.fromConfig({ ...config, register: false });
  if (options.register ?? true) registerStore(store);
  return store;
}

/**
 * Closes and unregisters every store registered in this process, including the stores rebuilt
 * from configs when proxies or futures arrived (`getOrCreateStore`). A receiving process calls
 * it when it is done with what it received: an open connection (Redis, …) would otherwise keep
 * the process alive. Every store is closed even if some fail; the first failure is then thrown
 * (an `AggregateError` when several fail).
 */
export async function closeRegisteredStores(): Promise<void> {
  const all = [...stores.values()];
  stores.clear();
  const outcomes = await Promise.allSettled(all.map((store) => store.close()));
  const errors = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1)
    throw new AggregateError(errors, `${errors.length} registered stores failed to close`);
}

/** Names of the stores registered in this process (tests assert none leak). */
export function registeredStores(): string[] {
  return [...stores.keys()];
}
