import { type ConnectorKey, getFactory, isProxy, type Store, StoreFactory } from '@proxy/core';

/** The store key behind a proxy made by a Store, or undefined for any other value. */
export function storeKeyOf(value: unknown): ConnectorKey | undefined {
  if (!isProxy(value)) return undefined;
  const factory = getFactory(value);
  return factory instanceof StoreFactory ? factory.key : undefined;
}

/**
 * Makes the caller the owner of a result proxy a worker created.
 * TODO(ownership): core's intoOwned() is not exported yet; until it is, results stay plain
 * store proxies and the caller evicts them (or uses a lifetime).
 */
export function takeOwnership<T>(proxy: T): T {
  return proxy;
}

/** Frees the data behind a result nobody will receive (a failed `map`). */
export async function releaseResult(store: Store, value: unknown): Promise<void> {
  const key = storeKeyOf(value);
  if (key !== undefined) await store.evict(key);
}
