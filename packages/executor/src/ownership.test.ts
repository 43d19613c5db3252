import { getFactory, keyId, LocalConnector, Store, type StoreFactory } from '@proxy/core';
import { proxyKeyIds, swapProxies } from './ownership.js';

describe('finding proxies inside a result', () => {
  it('finds and swaps proxies in arrays, objects, Maps and Sets without resolving them', async () => {
    const store = new Store('ownership-walk', new LocalConnector(), { register: false });
    try {
      const a = await store.proxy({ a: 1 });
      const b = await store.proxy('b');
      const idOf = (p: unknown) => keyId((getFactory(p) as StoreFactory).key);
      // Gone from the store: resolving either would throw, so the walk must not resolve them.
      await store.evict((getFactory(a) as StoreFactory).key);
      await store.evict((getFactory(b) as StoreFactory).key);
      const value = {
        list: [1, a, Buffer.alloc(4)],
        map: new Map<unknown, unknown>([
          ['first', 1],
          [a, b],
          ['last', 2],
        ]),
        set: new Set<unknown>([b, 'x']),
      };
      (value as Record<string, unknown>).self = value;
      expect(proxyKeyIds(value)).toEqual(new Set([idOf(a), idOf(b)]));
      const swapped = swapProxies(value, (p) => (p === a ? 'A' : 'B')) as typeof value;
      expect(swapped).toBe(value);
      expect(value.list[1]).toBe('A');
      expect([...value.map]).toEqual([
        ['first', 1],
        ['A', 'B'],
        ['last', 2],
      ]);
      expect([...value.set]).toEqual(['B', 'x']);
      expect(swapProxies(a, () => 'top')).toBe('top');
    } finally {
      await store.close();
    }
  });
});
