import { LocalConnector, Store } from '@proxy/core';
import {
  estimateSize,
  isPortablePolicy,
  ProxyAlways,
  ProxyIfLargerThan,
  ProxyNever,
  ProxyType,
  policyFromData,
} from './policy.js';

describe('policies', () => {
  it('ProxyType(String) matches string primitives and String objects, not numbers', () => {
    const policy = ProxyType(String);
    expect(policy('foobar')).toBe(true);
    expect(policy(new String('x'))).toBe(true);
    expect(policy(42)).toBe(false);
    expect(policy({})).toBe(false);
  });

  it('ProxyType(Number, BigInt) matches primitives; classes match by instanceof', () => {
    expect(ProxyType(Number)(42)).toBe(true);
    expect(ProxyType(BigInt)(10n)).toBe(true);
    expect(ProxyType(Number)('42')).toBe(false);
    class Point {}
    expect(ProxyType(Point)(new Point())).toBe(true);
    expect(ProxyType(Map)(new Map())).toBe(true);
    expect(ProxyType(Uint8Array)(Buffer.alloc(1))).toBe(true);
  });

  it('built-in policies are portable and survive toData/fromData; user classes are not', () => {
    for (const policy of [
      ProxyAlways,
      ProxyNever,
      ProxyType(String, Buffer),
      ProxyIfLargerThan(10),
    ]) {
      expect(isPortablePolicy(policy)).toBe(true);
      const data = (policy as unknown as { toData(): never }).toData();
      const rebuilt = policyFromData(data);
      for (const value of ['foobar', 42, Buffer.alloc(20), 'x'.repeat(11)])
        expect(rebuilt(value)).toBe(policy(value));
    }
    class Point {}
    expect(isPortablePolicy(ProxyType(Point))).toBe(false);
    expect(() => policyFromData({ kind: 'type', types: ['Point'] })).toThrow(
      /unknown built-in type "Point"/,
    );
  });

  it('ProxyIfLargerThan compares the serialized size', () => {
    const policy = ProxyIfLargerThan(1000);
    expect(policy(Buffer.alloc(1001))).toBe(true);
    expect(policy(Buffer.alloc(1000))).toBe(false);
    expect(policy('é'.repeat(501))).toBe(true); // 1002 UTF-8 bytes
    expect(policy({ a: 'x'.repeat(2000) })).toBe(true);
    expect(policy(12)).toBe(false);
    expect(() => ProxyIfLargerThan(-1)).toThrow(RangeError);
  });

  it('a proxy counts as its small factory, without being resolved', async () => {
    const store = new Store('policy-size', new LocalConnector());
    const proxy = await store.proxy(Buffer.alloc(100_000), { populateTarget: false });
    expect(estimateSize(proxy)).toBeLessThan(1000);
    await store.close();
  });
});
