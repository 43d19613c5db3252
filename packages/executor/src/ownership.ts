import {
  type ConnectorKey,
  dispose,
  getFactory,
  intoOwned,
  isProxy,
  proxyState,
  type Store,
  StoreFactory,
} from '@proxy/core';

/** The store key behind a proxy made by a Store, or undefined for any other value. */
export function storeKeyOf(value: unknown): ConnectorKey | undefined {
  if (!isProxy(value)) return undefined;
  const factory = getFactory(value);
  return factory instanceof StoreFactory ? factory.key : undefined;
}

/**
 * Makes the caller the single owner of a result proxy (core's `intoOwned`): the data is
 * evicted when the owner is disposed or garbage-collected. The worker that wrote the result
 * made a plain proxy, so it never evicts it.
 */
export function takeOwnership<T>(proxy: T): T {
  return intoOwned(proxy) as T;
}

/** Frees the data behind a result nobody will receive (a failed `map`). */
export async function releaseResult(store: Store, value: unknown): Promise<void> {
  if (proxyState(value)?.kind === 'owned') {
    await dispose(value);
    return;
  }
  const key = storeKeyOf(value);
  if (key !== undefined) await store.evict(key);
}
