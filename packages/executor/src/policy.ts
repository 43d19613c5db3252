import { isProxy, serialize } from '@proxy/core';

/** Decides whether a task input or result travels by proxy. */
export type ShouldProxy = (value: unknown) => boolean;

/** The plain-data form of a built-in policy, so a worker can apply it to the result it makes. */
export type PolicyData =
  | { kind: 'always' }
  | { kind: 'never' }
  | { kind: 'type'; types: string[] }
  | { kind: 'larger-than'; bytes: number };

/** A policy that can be sent to workers (every built-in one with built-in types). */
export interface PortablePolicy extends ShouldProxy {
  toData(): PolicyData;
}

function portable(fn: ShouldProxy, data: PolicyData): PortablePolicy {
  return Object.assign(fn, { toData: () => data });
}

/** Proxies every value that can be proxied. */
export const ProxyAlways: PortablePolicy = portable(() => true, { kind: 'always' });

/** Proxies nothing (the default). */
export const ProxyNever: PortablePolicy = portable(() => false, { kind: 'never' });

/** A class or built-in constructor (BigInt is one too, though it cannot be called with `new`). */
// biome-ignore lint/suspicious/noExplicitAny: constructors of any shape
export type Ctor = (abstract new (...args: any[]) => unknown) | BigIntConstructor;

/** Constructors every process has, by name: the ones a worker can rebuild a ProxyType from. */
const BUILT_INS: Record<string, Ctor> = {
  String,
  Number,
  BigInt,
  Object,
  Array,
  Map,
  Set,
  Date,
  RegExp,
  Error,
  ArrayBuffer,
  Buffer,
  Uint8Array,
  Uint8ClampedArray,
  Uint16Array,
  Uint32Array,
  Int8Array,
  Int16Array,
  Int32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView,
};

const PRIMITIVE_OF: ReadonlyMap<unknown, string> = new Map<unknown, string>([
  [String, 'string'],
  [Number, 'number'],
  [BigInt, 'bigint'],
]);

function matchesType(value: unknown, ctor: Ctor): boolean {
  // Strings, numbers and bigints are primitives, never `instanceof` their constructors.
  const primitive = PRIMITIVE_OF.get(ctor);
  if (primitive !== undefined && typeof value === primitive) return true;
  return value instanceof ctor;
}

/**
 * Proxies values of the given types. `ProxyType(String)` matches `'foobar'` as well as
 * `new String('foobar')`, and likewise for Number and BigInt.
 */
export function ProxyType(...types: Ctor[]): ShouldProxy | PortablePolicy {
  for (const t of types) {
    if (typeof t !== 'function')
      throw new TypeError(`ProxyType expects constructors, got ${typeof t}`);
  }
  const fn: ShouldProxy = (value) => types.some((t) => matchesType(value, t));
  const names = types.map((t) => t.name);
  const allBuiltIn = types.every((t, i) => BUILT_INS[names[i]!] === t);
  return allBuiltIn ? portable(fn, { kind: 'type', types: names }) : fn;
}

/**
 * Bytes a value takes once serialized. Exact for bytes and strings; other values are
 * serialized to measure them (proxies count as their small factory).
 */
export function estimateSize(value: unknown): number {
  if (
    value === null ||
    value === undefined ||
    typeof value === 'boolean' ||
    typeof value === 'number'
  )
    return 8;
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'bigint') return 16;
  if (!isProxy(value)) {
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value.byteLength;
  }
  return serialize(value).byteLength;
}

/** Proxies values whose serialized size is larger than `bytes`. */
export function ProxyIfLargerThan(bytes: number): PortablePolicy {
  if (!Number.isFinite(bytes) || bytes < 0)
    throw new RangeError(`ProxyIfLargerThan(bytes): bytes must be >= 0, got ${bytes}`);
  return portable((value) => estimateSize(value) > bytes, { kind: 'larger-than', bytes });
}

export function isPortablePolicy(policy: ShouldProxy): policy is PortablePolicy {
  return typeof (policy as Partial<PortablePolicy>).toData === 'function';
}

/** Rebuilds a policy sent by `toData()`; unknown constructor names are an error, not a silent no. */
export function policyFromData(data: PolicyData): PortablePolicy {
  switch (data.kind) {
    case 'always':
      return ProxyAlways;
    case 'never':
      return ProxyNever;
    case 'larger-than':
      return ProxyIfLargerThan(data.bytes);
    case 'type': {
      const ctors = data.types.map((name) => {
        const ctor = Object.hasOwn(BUILT_INS, name) ? BUILT_INS[name] : undefined;
        if (!ctor) throw new TypeError(`ProxyType policy names unknown built-in type "${name}"`);
        return ctor;
      });
      return ProxyType(...ctors) as PortablePolicy;
    }
    default:
      throw new TypeError(`Unknown proxy policy ${JSON.stringify(data)}`);
  }
}
