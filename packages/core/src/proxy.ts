import { inspect, types } from 'node:util';
import { ProxyResolveError, ProxyStoreError } from './errors.js';
import type { Factory } from './factory.js';

/** The kind of placeholder a proxy is built on; fixes `typeof`, `Array.isArray` and callability. */
export type Shape = 'object' | 'array' | 'function';

declare const PROXY_BRAND: unique symbol;
/** A proxy typed as its target, so it passes wherever a `T` is expected. */
export type Proxied<T> = T & { readonly [PROXY_BRAND]?: true };

export interface CreateProxyOptions<T> {
  /** Placeholder kind; inferred from `target` when given, else `'object'`. */
  shape?: Shape;
  /** An already-known target: the proxy starts resolved (ProxyStore's `populate_target`). */
  target?: T;
  /** Proxy variant name written when serialized (ownership uses 'owned', 'ref', 'refmut'). */
  kind?: string;
}

/** Internal per-proxy record. Exported for the serializer and ownership, not for users. */
export interface ProxyState<T = unknown> {
  factory: Factory<T>;
  shape: Shape;
  kind: string;
  resolved: boolean;
  target: T | undefined;
  /** The target was a primitive that was boxed; `extract` unboxes it. */
  boxed: boolean;
  pending: Promise<T> | undefined;
  /** When set, any use throws the error it returns (a moved or out-of-scope reference). */
  invalid: (() => Error) | undefined;
  placeholder: object;
  /** Each method of the target, bound to it (keyed by the method itself). */
  bound: WeakMap<Function, Function>;
  /** The method bound last and its bound form: a hot loop calling one method skips the WeakMap. */
  lastFn: Function | undefined;
  lastBound: Function | undefined;
  /** Per-variant data (ownership bookkeeping). */
  extra: Record<string, unknown>;
  /** Symbol-keyed properties the proxy answers itself, before the target (ownership's `Symbol.dispose`). */
  own?: Map<PropertyKey, unknown>;
}

const states = new WeakMap<object, ProxyState>();

/** Set while the core serializer runs: proxies then present themselves as `ProxyMarker`. */
let encoding = 0;
/** The class a proxy claims to be while it is being serialized. */
export class ProxyMarker {}

export function withProxyEncoding<R>(fn: () => R): R {
  encoding++;
  try {
    return fn();
  } finally {
    encoding--;
  }
}

export function shapeOf(value: unknown): Shape {
  if (typeof value === 'function') return 'function';
  if (Array.isArray(value)) return 'array';
  return 'object';
}

function makePlaceholder(shape: Shape): object {
  if (shape === 'array') return [];
  // A bound function is callable and constructible yet has no own non-configurable
  // `prototype`, so any callable target (class, arrow, method) fits behind it.
  if (shape === 'function') return function placeholder() {}.bind(null);
  return {};
}

function toTarget<T>(state: ProxyState<T>, value: unknown): T {
  if (value === null || value === undefined) {
    throw new ProxyResolveError(
      `Proxy factory produced ${value}; a proxy's target must be an object, string, number or bigint.`,
    );
  }
  const t = typeof value;
  if (t !== 'object' && t !== 'function') {
    state.boxed = true;
    return Object(value) as T;
  }
  return value as T;
}

function setTarget<T>(state: ProxyState<T>, value: unknown): T {
  const target = toTarget(state, value);
  state.target = target;
  state.resolved = true;
  forgetBound(state);
  return target;
}

function forgetBound(state: ProxyState): void {
  state.bound = new WeakMap();
  state.lastFn = undefined;
  state.lastBound = undefined;
}

function boxedToJSON(target: unknown): () => unknown {
  return () => (target as { valueOf(): unknown }).valueOf();
}

function invalidated(state: ProxyState): never {
  throw state.invalid!();
}

function resolveState<T>(state: ProxyState<T>): T {
  if (state.resolved) return state.target as T;
  if (state.invalid) invalidated(state);
  let value: T;
  try {
    value = state.factory.resolve();
  } catch (error) {
    if (ProxyStoreError.is(error)) throw error;
    throw new ProxyResolveError(`Proxy factory failed: ${(error as Error)?.message ?? error}`, {
      cause: error,
    });
  }
  return setTarget(state, value);
}

/** Copies every own property of the target onto the placeholder and seals it the same way. */
function mirrorNonExtensible(state: ProxyState): void {
  const ph = state.placeholder;
  if (!Reflect.isExtensible(ph)) return;
  const t = state.target as object;
  delete (ph as Record<symbol, unknown>)[inspect.custom];
  for (const key of Reflect.ownKeys(t)) {
    const desc = Reflect.getOwnPropertyDescriptor(t, key)!;
    Reflect.defineProperty(ph, key, desc);
  }
  Reflect.setPrototypeOf(ph, Reflect.getPrototypeOf(t));
  Reflect.preventExtensions(ph);
}

/** A non-configurable property may only be reported if the placeholder has it too. */
function mirrorProperty(state: ProxyState, key: PropertyKey, desc: PropertyDescriptor): void {
  const ph = state.placeholder;
  const own = Reflect.getOwnPropertyDescriptor(ph, key);
  if (own && !own.configurable && !own.writable && !desc.writable) return;
  Reflect.defineProperty(ph, key, desc);
}

function bindMethod(state: ProxyState, target: object, key: PropertyKey, fn: Function): Function {
  const cached = state.bound.get(fn);
  if (cached !== undefined) {
    state.lastFn = fn;
    state.lastBound = cached;
    return cached;
  }
  // Inherited methods (class methods, Map#get, Date#getTime) need the real object as `this`
  // for internal slots and #private fields. Own function-valued properties stay as they are.
  const bound = Object.hasOwn(target, key) ? fn : fn.bind(target);
  state.bound.set(fn, bound);
  state.lastFn = fn;
  state.lastBound = bound;
  return bound;
}

function slowGet(state: ProxyState, key: PropertyKey): unknown {
  if (encoding > 0 && key === 'constructor') return ProxyMarker;
  if (key === 'then' && !state.resolved) return undefined;
  if (state.own?.has(key)) return state.own.get(key);
  const t = resolveState(state) as Record<PropertyKey, unknown>;
  // JSON.stringify unwraps boxed primitives by internal slot, which a Proxy lacks.
  if (key === 'toJSON' && types.isBoxedPrimitive(t)) return boxedToJSON(t);
  const value = t[key as string];
  if (typeof value === 'function' && key !== 'constructor') return bindMethod(state, t, key, value);
  return value;
}

function makeHandler(state: ProxyState): ProxyHandler<object> {
  return {
    get(_ph, key) {
      // Fast path for a resolved proxy. 'constructor' (which reads differently while
      // serializing), a boxed primitive's missing toJSON and own symbols (ownership's
      // Symbol.dispose) take the slow path.
      if (state.resolved && (typeof key !== 'symbol' || state.own === undefined)) {
        const t = state.target as Record<PropertyKey, unknown>;
        const value = t[key as string];
        if (typeof value === 'function') {
          if (key !== 'constructor') {
            return value === state.lastFn ? state.lastBound : bindMethod(state, t, key, value);
          }
        } else if (value !== undefined || key !== 'toJSON') return value;
      }
      return slowGet(state, key);
    },
    set(_ph, key, value) {
      return Reflect.set(resolveState(state) as object, key, value);
    },
    has(_ph, key) {
      return Reflect.has(resolveState(state) as object, key);
    },
    deleteProperty(ph, key) {
      const ok = Reflect.deleteProperty(resolveState(state) as object, key);
      if (ok && Object.hasOwn(ph, key)) Reflect.deleteProperty(ph, key);
      return ok;
    },
    ownKeys(ph) {
      const t = resolveState(state) as object;
      if (!Reflect.isExtensible(t)) mirrorNonExtensible(state);
      const keys = Reflect.ownKeys(t);
      if (Array.isArray(ph) && !keys.includes('length')) keys.push('length');
      return keys;
    },
    getOwnPropertyDescriptor(_ph, key) {
      const t = resolveState(state) as object;
      if (!Reflect.isExtensible(t)) mirrorNonExtensible(state);
      const desc = Reflect.getOwnPropertyDescriptor(t, key);
      if (desc && !desc.configurable) mirrorProperty(state, key, desc);
      return desc;
    },
    defineProperty(_ph, key, desc) {
      const t = resolveState(state) as object;
      const ok = Reflect.defineProperty(t, key, desc);
      if (ok && desc.configurable === false) {
        mirrorProperty(state, key, Reflect.getOwnPropertyDescriptor(t, key)!);
      }
      return ok;
    },
    getPrototypeOf() {
      if (encoding > 0) return ProxyMarker.prototype;
      return Reflect.getPrototypeOf(resolveState(state) as object);
    },
    setPrototypeOf(_ph, proto) {
      return Reflect.setPrototypeOf(resolveState(state) as object, proto);
    },
    isExtensible(ph) {
      const t = resolveState(state) as object;
      if (!Reflect.isExtensible(t)) mirrorNonExtensible(state);
      return Reflect.isExtensible(ph);
    },
    preventExtensions() {
      const t = resolveState(state) as object;
      Reflect.preventExtensions(t);
      mirrorNonExtensible(state);
      return true;
    },
    apply(_ph, thisArg, args) {
      return Reflect.apply(resolveState(state) as Function, thisArg, args);
    },
    construct(_ph, args, newTarget) {
      const t = resolveState(state) as Function;
      return Reflect.construct(t, args, states.has(newTarget) ? t : newTarget);
    },
  };
}

function describeFactory(factory: Factory): string {
  const data = typeof factory.toData === 'function' ? safeData(factory) : undefined;
  return data ?? factory.constructor?.name ?? 'Factory';
}

function safeData(factory: Factory): string | undefined {
  try {
    const { type, key } = factory.toData!() as { type: string; key?: unknown };
    return key === undefined ? type : `${type} ${JSON.stringify(key)}`;
  } catch {
    return undefined;
  }
}

/**
 * Creates a lazy, transparent proxy: the first operation on it resolves the target through
 * `factory` (synchronously), and every operation is then forwarded to the target.
 */
export function createProxy<T>(
  factory: Factory<T>,
  options: CreateProxyOptions<T> = {},
): Proxied<T> {
  const hasTarget = 'target' in options && options.target !== undefined;
  const shape = options.shape ?? (hasTarget ? shapeOf(options.target) : 'object');
  const placeholder = makePlaceholder(shape);
  const state: ProxyState<T> = {
    factory,
    shape,
    kind: options.kind ?? 'proxy',
    resolved: false,
    target: undefined,
    boxed: false,
    pending: undefined,
    invalid: undefined,
    placeholder,
    bound: new WeakMap(),
    lastFn: undefined,
    lastBound: undefined,
    extra: {},
  };
  if (hasTarget) setTarget(state, options.target);
  // Node's util.inspect looks through proxies at the placeholder, never calling traps.
  Object.defineProperty(placeholder, inspect.custom, {
    configurable: true,
    writable: true,
    enumerable: false,
    value(_depth: number, opts: object, insp: typeof inspect = inspect) {
      if (state.resolved) return insp(state.target, opts);
      return `[Proxy (unresolved) ${describeFactory(state.factory)}]`;
    },
  });
  const proxy = new Proxy(placeholder, makeHandler(state as ProxyState)) as Proxied<T>;
  states.set(proxy as object, state as ProxyState);
  return proxy;
}

/** The internal state of a proxy, or undefined for anything else. */
export function proxyState<T>(value: unknown): ProxyState<T> | undefined {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null)
    return undefined;
  return states.get(value) as ProxyState<T> | undefined;
}

function stateOrThrow<T>(value: unknown, what: string): ProxyState<T> {
  const state = proxyState<T>(value);
  if (!state) throw new TypeError(`${what} expects a proxy created by @proxy/core`);
  return state;
}

export function isProxy(value: unknown): boolean {
  return proxyState(value) !== undefined;
}

export function isResolved(proxy: unknown): boolean {
  return stateOrThrow(proxy, 'isResolved').resolved;
}

export function getFactory<T>(proxy: Proxied<T> | T): Factory<T> {
  return stateOrThrow<T>(proxy, 'getFactory').factory;
}

/** Resolves without blocking the event loop; returns the proxy (now resolved). A non-proxy is returned as-is. */
export async function resolve<T>(proxy: T): Promise<T> {
  const state = proxyState<T>(proxy);
  if (!state || state.resolved) return proxy;
  if (state.invalid) invalidated(state);
  state.pending ??= state.factory.resolveAsync().then(
    (value) => {
      state.pending = undefined;
      return state.resolved ? (state.target as T) : setTarget(state, value);
    },
    (error: unknown) => {
      state.pending = undefined;
      if (ProxyStoreError.is(error)) throw error;
      throw new ProxyResolveError(`Proxy factory failed: ${(error as Error)?.message ?? error}`, {
        cause: error,
      });
    },
  );
  await state.pending;
  return proxy;
}

/** Starts fetching the target in the background (overlap I/O with compute). Errors surface on use. */
export function resolveAsync(proxy: unknown): void {
  resolve(proxy).catch(() => {});
}

/** Resolves now, blocking if the factory has to fetch. Returns the proxy. */
export function resolveSync<T>(proxy: T): T {
  const state = proxyState<T>(proxy);
  if (state) resolveState(state);
  return proxy;
}

/** The real target behind a proxy (boxed primitives unboxed), resolving it if needed. */
export function extract<T>(proxy: Proxied<T> | T): T {
  const state = proxyState<T>(proxy);
  if (!state) return proxy as T;
  const target = resolveState(state);
  return (state.boxed ? (target as { valueOf(): T }).valueOf() : target) as T;
}

/** Resets a proxy to unresolved and makes every later use throw `error()`. Used by ownership. */
export function invalidateProxy(proxy: unknown, error: () => Error): void {
  const state = stateOrThrow(proxy, 'invalidateProxy');
  state.invalid = error;
  state.resolved = false;
  state.target = undefined;
  forgetBound(state);
}

/** Holds a proxy so nothing resolves it by accident; `unlock()` hands it back. */
export class ProxyLocker<T> {
  readonly #proxy: Proxied<T>;
  constructor(proxy: Proxied<T>) {
    this.#proxy = proxy;
  }
  unlock(): Proxied<T> {
    return this.#proxy;
  }
  [inspect.custom](): string {
    return 'ProxyLocker { <locked> }';
  }
}
