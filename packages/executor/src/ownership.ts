import {
  type ConnectorKey,
  dispose,
  getFactory,
  intoOwned,
  isProxy,
  keyId,
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
 * Ids of the store keys of every proxy inside `value` (itself included), found without
 * resolving any proxy or calling any getter: arrays, Maps, Sets and objects' own data
 * properties are walked, bytes and strings skipped.
 */
export function proxyKeyIds(value: unknown): Set<string> {
  const ids = new Set<string>();
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item !== 'object' || item === null) continue;
    if (isProxy(item)) {
      const key = storeKeyOf(item);
      if (key !== undefined) ids.add(keyId(key));
      continue;
    }
    if (seen.has(item) || ArrayBuffer.isView(item) || item instanceof ArrayBuffer) continue;
    seen.add(item);
    const push = (v: unknown) => {
      if (typeof v === 'object' && v !== null) stack.push(v);
    };
    if (Array.isArray(item)) {
      for (const element of item) push(element);
    } else if (item instanceof Map) {
      for (const [k, v] of item) {
        push(k);
        push(v);
      }
    } else if (item instanceof Set) {
      for (const element of item) push(element);
    } else {
      for (const descriptor of Object.values(Object.getOwnPropertyDescriptors(item))) {
        if ('value' in descriptor) push(descriptor.value);
      }
    }
  }
  return ids;
}

/**
 * Replaces, in place, every proxy inside a freshly decoded value by `swap(proxy)` (arrays,
 * Maps, Sets and plain objects' own data properties are walked; proxies are never resolved).
 * Returns the value, or its replacement when it is a proxy itself.
 */
export function swapProxies(value: unknown, swap: (proxy: object) => unknown): unknown {
  const seen = new Set<object>();
  const visit = (item: unknown): unknown => {
    if (typeof item !== 'object' || item === null) return item;
    if (isProxy(item)) return swap(item);
    if (seen.has(item) || ArrayBuffer.isView(item) || item instanceof ArrayBuffer) return item;
    seen.add(item);
    if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) {
        const next = visit(item[i]);
        if (next !== item[i]) item[i] = next;
      }
    } else if (item instanceof Map) {
      const entries = [...item].map(([k, v]) => [k, v, visit(k), visit(v)] as const);
      if (entries.some(([k, v, k2, v2]) => k !== k2 || v !== v2)) {
        // Rebuilt in order, so a replaced key keeps its place.
        item.clear();
        for (const [, , k, v] of entries) item.set(k, v);
      }
    } else if (item instanceof Set) {
      const members = [...item].map((m) => [m, visit(m)] as const);
      if (members.some(([m, m2]) => m !== m2)) {
        item.clear();
        for (const [, m] of members) item.add(m);
      }
    } else {
      for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(item))) {
        if (!('value' in descriptor) || typeof descriptor.value !== 'object') continue;
        const next = visit(descriptor.value);
        if (next !== descriptor.value && descriptor.writable)
          (item as Record<string, unknown>)[name] = next;
      }
    }
    return item;
  };
  return visit(value);
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
