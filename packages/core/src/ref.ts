import {
  formatKey,
  MutableBorrowError,
  ProxyResolveMissingKeyError,
  ReferenceInvalidError,
  ReferenceNotOwnedError,
} from './errors.js';
import { factoryFromData } from './factory.js';
import {
  createProxy,
  invalidateProxy,
  type Proxied,
  type ProxyState,
  proxyState,
  type Shape,
} from './proxy.js';
import {
  type BorrowRecord,
  borrows,
  type OwnerHeld,
  type OwnerRecord,
  owners,
  type RefExtra,
  releaseBorrow,
  track,
} from './ref-records.js';
import { registerProxyKind, type Serializer } from './serialize.js';
import type { ProxyOptions, Store } from './store.js';
import { StoreFactory } from './store-factory.js';

export { waitForEvictions } from './ref-records.js';

declare const KIND: unique symbol;

/**
 * The single owner of an object in a store. Evicts the object when disposed (`using`,
 * `await dispose(p)`) or, if never disposed, when garbage-collected.
 */
export type OwnedProxy<T> = Proxied<T> &
  Disposable &
  AsyncDisposable & { readonly [KIND]: 'owned' };
/** An immutable borrow of an `OwnedProxy`; keeps its owner alive. */
export type RefProxy<T> = Proxied<T> & Disposable & { readonly [KIND]: 'ref' };
/** The one mutable borrow of an `OwnedProxy`; `update()` writes changes back. */
export type RefMutProxy<T> = Proxied<T> & Disposable & { readonly [KIND]: 'refmut' };
export type AnyRef<T> = OwnedProxy<T> | RefProxy<T> | RefMutProxy<T>;

/** `store.ownedProxy` options: those of `store.proxy` except `evict` and `lifetime` (mutually exclusive with ownership). */
export type OwnedProxyOptions = Omit<ProxyOptions, 'evict' | 'lifetime'>;

function storeFactoryOf(state: ProxyState, operation: string): StoreFactory {
  if (!(state.factory instanceof StoreFactory)) {
    throw new TypeError(
      `${operation} needs a proxy created by a Store (its factory is ${state.factory.constructor?.name}).`,
    );
  }
  return state.factory;
}

function describe(factory: StoreFactory): string {
  return `Store "${factory.storeConfig.name}" key=${formatKey(factory.key)}`;
}

function ownerRecord(state: ProxyState): OwnerRecord {
  return state.extra.owner as OwnerRecord;
}

function refExtra(state: ProxyState): RefExtra {
  return state.extra.ref as RefExtra;
}

/** The state of an owned proxy that still owns its data, else the errors ProxyStore raises. */
function liveOwner(proxy: unknown, operation: string): { state: ProxyState; record: OwnerRecord } {
  const state = proxyState(proxy);
  if (state?.kind !== 'owned') {
    throw new ReferenceNotOwnedError(`Only owned references can be ${operation}.`);
  }
  const record = ownerRecord(state);
  if (record.status !== 'live') throw invalidError(record.factory, record.status);
  return { state, record };
}

function invalidError(
  factory: StoreFactory,
  why: 'moved' | 'moved-into-owned' | 'disposed' | 'out-of-scope',
): ReferenceInvalidError {
  const reason =
    why === 'moved'
      ? 'it was serialized (moved to another process or into stored data); use the copy that was received'
      : why === 'moved-into-owned'
        ? 'it was moved into the OwnedProxy intoOwned() returned; use that one'
        : why === 'disposed'
          ? 'its OwnedProxy was disposed and the data evicted'
          : 'it went out of scope (markRefsOutOfScope, submit or dispose)';
  return new ReferenceInvalidError(
    `Reference to ${describe(factory)} has been invalidated: ${reason}.`,
  );
}

function targetOf(state: ProxyState): unknown {
  return state.boxed ? (state.target as { valueOf(): unknown }).valueOf() : state.target;
}
function makeOwned<T>(
  factory: StoreFactory<T>,
  shape: Shape,
  target: { value: unknown } | undefined,
  store?: Store,
): OwnedProxy<T> {
  const proxy = createProxy<T>(
    factory,
    target ? { kind: 'owned', target: target.value as T } : { kind: 'owned', shape },
  );
  const state = proxyState<T>(proxy)!;
  const record: OwnerRecord = {
    status: 'live',
    refs: 0,
    refMuts: 0,
    factory: factory as StoreFactory,
    evicting: undefined,
    error: undefined,
  };
  state.extra.owner = record;
  // Answered by the proxy itself, not its target, so `using` works and never resolves.
  state.own = new Map<PropertyKey, unknown>([
    [Symbol.dispose, () => disposeOwned(proxy)],
    [Symbol.asyncDispose, () => dispose(proxy)],
  ]);
  const held: OwnerHeld = {
    key: factory.key,
    storeConfig: factory.storeConfig,
    store: store ? new WeakRef(store) : undefined,
    record,
  };
  owners.register(proxy as object, held, record);
  return proxy as OwnedProxy<T>;
}

function makeRef<T>(
  kind: 'ref' | 'refmut',
  factory: StoreFactory<T>,
  shape: Shape,
  target: { value: unknown } | undefined,
  owner: { proxy: unknown; record: OwnerRecord } | undefined,
): Proxied<T> {
  const proxy = createProxy<T>(
    factory,
    target ? { kind, target: target.value as T } : { kind, shape },
  );
  const state = proxyState<T>(proxy)!;
  const borrow: BorrowRecord = { kind, owner: owner?.record, released: false };
  const extra: RefExtra = { borrow, ownerProxy: owner?.proxy, moved: false };
  state.extra.ref = extra;
  state.own = new Map<PropertyKey, unknown>([[Symbol.dispose, () => releaseRef(proxy, false)]]);
  if (owner) borrows.register(proxy as object, borrow, borrow);
  return proxy;
}

/** Sync disposal: checks the borrow rules, invalidates, and starts the eviction. */
function disposeOwned(proxy: unknown): void {
  const record = ownerRecord(proxyState(proxy)!);
  if (record.status !== 'live') return;
  if (record.refs > 0 || record.refMuts > 0) {
    throw new MutableBorrowError(
      `Cannot dispose the OwnedProxy of ${describe(record.factory)}: ${record.refs} RefProxy and ${record.refMuts} RefMutProxy still borrow it. Release them first (dispose, markRefsOutOfScope, or let submit() do it).`,
    );
  }
  record.status = 'disposed';
  owners.unregister(record);
  const factory = record.factory;
  invalidateProxy(proxy, () => invalidError(factory, 'disposed'));
  let eviction: Promise<void>;
  try {
    eviction = factory.getStore().evict(factory.key);
  } catch (error) {
    eviction = Promise.reject(error);
  }
  record.evicting = track(
    eviction.catch((error: unknown) => {
      record.error = error;
    }),
  );
}

/**
 * Ends a reference's scope and resolves once its effect is done. An `OwnedProxy` evicts its
 * data (refused with `MutableBorrowError` while borrowed); a `RefProxy`/`RefMutProxy`
 * returns its borrow to the owner. Disposing an already moved or disposed reference is a no-op.
 */
export async function dispose(proxy: unknown): Promise<void> {
  const state = proxyState(proxy);
  if (state?.kind === 'ref' || state?.kind === 'refmut') {
    releaseRef(proxy, false);
    return;
  }
  if (state?.kind !== 'owned') {
    throw new ReferenceNotOwnedError('dispose() expects an OwnedProxy, RefProxy or RefMutProxy.');
  }
  disposeOwned(proxy);
  const record = ownerRecord(state);
  await record.evicting;
  if (record.error !== undefined) throw record.error;
}

/**
 * Returns a borrow to its owner and invalidates the ref. With `strict`, a ref that has no
 * owner in this process (it was deserialized here) is an error, as in ProxyStore's
 * `mark_refs_out_of_scope`; otherwise it is only invalidated.
 */
export function releaseRef(proxy: unknown, strict: boolean): void {
  const state = proxyState(proxy);
  if (!state || (state.kind !== 'ref' && state.kind !== 'refmut')) {
    throw new TypeError('Expected a RefProxy or RefMutProxy (from borrow() or mutBorrow()).');
  }
  const extra = refExtra(state);
  if (extra.borrow.released) return;
  if (strict && extra.borrow.owner === undefined) {
    throw new ReferenceNotOwnedError(
      `Cannot mark the reference to ${describe(storeFactoryOf(state, 'markRefsOutOfScope'))} out of scope: it has no owner in this process (it was deserialized here; its sender releases the borrow).`,
    );
  }
  releaseBorrow(extra.borrow);
  borrows.unregister(extra.borrow);
  extra.ownerProxy = undefined;
  if (!extra.moved) {
    const factory = storeFactoryOf(state, 'release');
    invalidateProxy(proxy, () => invalidError(factory, 'out-of-scope'));
  }
}

/** Checks that every item is a ref this process can release, before any is released. */
export function assertReleasable(refs: readonly unknown[]): void {
  for (const ref of refs) {
    const state = proxyState(ref);
    if (!state || (state.kind !== 'ref' && state.kind !== 'refmut')) {
      throw new TypeError(
        'markRefsOutOfScope expects RefProxy or RefMutProxy values (from borrow() or mutBorrow()).',
      );
    }
    const { borrow } = refExtra(state);
    if (!borrow.released && borrow.owner === undefined) {
      throw new ReferenceNotOwnedError(
        `Cannot mark the reference to ${describe(storeFactoryOf(state, 'markRefsOutOfScope'))} out of scope: it has no owner in this process (it was deserialized here; its sender releases the borrow).`,
      );
    }
  }
}

/** Whether `value` is a RefProxy or RefMutProxy (without resolving it). */
export function isBorrow(value: unknown): boolean {
  const kind = proxyState(value)?.kind;
  return kind === 'ref' || kind === 'refmut';
}

function borrowFrom<T>(
  kind: 'ref' | 'refmut',
  proxy: OwnedProxy<T>,
  populateTarget: boolean,
): Proxied<T> {
  const { state, record } = liveOwner(proxy, 'borrowed');
  if (record.refMuts > 0) throw new MutableBorrowError('Proxy was already borrowed as mutable.');
  if (kind === 'refmut' && record.refs > 0)
    throw new MutableBorrowError('Proxy was already borrowed as immutable.');
  if (kind === 'ref') record.refs++;
  else record.refMuts++;
  const target = populateTarget && state.resolved ? { value: targetOf(state) } : undefined;
  return makeRef<T>(kind, record.factory as StoreFactory<T>, state.shape, target, {
    proxy,
    record,
  });
}

export interface BorrowOptions {
  /** Share the owner's already-resolved target with the borrow (default true). */
  populateTarget?: boolean;
}

/**
 * An immutable borrow: any number may exist at once, none while a mutable borrow does.
 * `ReferenceNotOwnedError` unless `proxy` is an `OwnedProxy`; `MutableBorrowError` when
 * it is mutably borrowed.
 */
export function borrow<T>(proxy: OwnedProxy<T>, options: BorrowOptions = {}): RefProxy<T> {
  return borrowFrom('ref', proxy, options.populateTarget ?? true) as RefProxy<T>;
}

/**
 * The one mutable borrow. `MutableBorrowError` when any borrow (mutable or not) exists;
 * `ReferenceNotOwnedError` unless `proxy` is an `OwnedProxy`.
 */
export function mutBorrow<T>(proxy: OwnedProxy<T>, options: BorrowOptions = {}): RefMutProxy<T> {
  return borrowFrom('refmut', proxy, options.populateTarget ?? true) as RefMutProxy<T>;
}

/**
 * A new `OwnedProxy` to a copy of the stored bytes under a new key. The clone's target (if
 * the original was resolved) is decoded from those bytes, so it matches what any other
 * process would read.
 */
export async function clone<T>(proxy: OwnedProxy<T>): Promise<OwnedProxy<T>> {
  const { state, record } = liveOwner(proxy, 'cloned');
  const factory = record.factory as StoreFactory<T>;
  const store = factory.getStore();
  const bytes = await store.connector.get(factory.key);
  if (bytes === null)
    throw new ProxyResolveMissingKeyError(
      factory.key,
      store.name,
      store.connector.constructor.name,
    );
  const key = await store.connector.put(bytes);
  const copy = new StoreFactory<T>(
    key,
    store.config(),
    { evict: false, deserializer: factory.deserializer },
    store,
  );
  const target = state.resolved
    ? { value: (factory.deserializer ?? store.deserializer)(bytes) }
    : undefined;
  return makeOwned(copy, state.shape, target, store);
}

/**
 * Takes ownership of the data behind a plain store proxy. The argument is moved: it is
 * invalidated (`ReferenceInvalidError` on use), so no stray copy outlives the owner's
 * eviction. Refused (`ReferenceNotOwnedError`) for an owned or borrowed proxy.
 */
export function intoOwned<T>(proxy: Proxied<T> | T, options: BorrowOptions = {}): OwnedProxy<T> {
  const state = proxyState<T>(proxy);
  if (!state) throw new TypeError('intoOwned expects a proxy created by a Store.');
  if (state.kind === 'owned' || state.kind === 'ref' || state.kind === 'refmut') {
    throw new ReferenceNotOwnedError(
      `Cannot take ownership of ${state.kind === 'owned' ? 'an OwnedProxy (it already owns its data; use clone() for a second owner)' : 'a borrowed reference (only its owner may evict the data)'}.`,
    );
  }
  const factory = storeFactoryOf(state as ProxyState, 'intoOwned') as StoreFactory<T>;
  if (state.invalid) throw state.invalid();
  const store = factory.getStore();
  const owned = new StoreFactory<T>(
    factory.key,
    factory.storeConfig,
    { evict: false, deserializer: factory.deserializer },
    store,
  );
  const target =
    (options.populateTarget ?? true) && state.resolved
      ? { value: targetOf(state as ProxyState) }
      : undefined;
  const result = makeOwned(owned, state.shape, target, store);
  invalidateProxy(proxy, () => invalidError(factory as StoreFactory, 'moved-into-owned'));
  return result;
}

/**
 * Writes the (mutated) target of an `OwnedProxy` or `RefMutProxy` back to the store under the
 * same key. Needs a deferrable connector. A no-op for an unresolved proxy (nothing changed
 * here). Other processes that already cached the object keep their copy.
 */
export async function update(
  proxy: OwnedProxy<unknown> | RefMutProxy<unknown>,
  options: { serializer?: Serializer } = {},
): Promise<void> {
  const state = proxyState(proxy);
  if (!state || (state.kind !== 'owned' && state.kind !== 'refmut')) {
    throw new ReferenceNotOwnedError('Reference is an immutable borrow.');
  }
  const factory = storeFactoryOf(state, 'update');
  if (state.kind === 'owned') {
    const record = ownerRecord(state);
    if (record.status !== 'live') throw invalidError(factory, record.status);
    if (record.refs > 0 || record.refMuts > 0)
      throw new MutableBorrowError('OwnedProxy has been borrowed. Cannot mutate.');
  } else if (state.invalid) {
    throw state.invalid();
  }
  if (!state.resolved) return;
  await factory.getStore().set(factory.key, targetOf(state), options);
}

/** What kind of reference `proxy` is and its borrow state, without resolving it (diagnostics, tests). */
export interface ReferenceInfo {
  kind: 'owned' | 'ref' | 'refmut';
  /** False once moved (serialized), disposed or out of scope. */
  valid: boolean;
  /** Outstanding immutable / mutable borrows (owners only). */
  refs?: number;
  refMuts?: number;
  /** Borrows only: whether the owner lives in this process. */
  hasOwner?: boolean;
}

export function referenceInfo(proxy: unknown): ReferenceInfo | undefined {
  const state = proxyState(proxy);
  if (state?.kind === 'owned') {
    const record = ownerRecord(state);
    return {
      kind: 'owned',
      valid: record.status === 'live',
      refs: record.refs,
      refMuts: record.refMuts,
    };
  }
  if (state?.kind === 'ref' || state?.kind === 'refmut') {
    const extra = refExtra(state);
    return {
      kind: state.kind,
      valid: state.invalid === undefined,
      hasOwner: extra.borrow.owner !== undefined,
    };
  }
  return undefined;
}

// Serializing a reference moves it: the receiver gets the same kind, and the sender's copy
// stops working. A moved owner no longer evicts (the receiver owns the data now); a moved
// borrow stays counted against its owner until it goes out of scope here (submit or
// markRefsOutOfScope), because the receiver may still be using it.
registerProxyKind(
  'owned',
  (data, shape) => makeOwned(factoryFromData(data) as StoreFactory, shape, undefined),
  (proxy) => {
    const state = proxyState(proxy)!;
    const record = ownerRecord(state);
    if (record.status !== 'live') throw invalidError(record.factory, record.status);
    record.status = 'moved';
    owners.unregister(record);
    invalidateProxy(proxy, () => invalidError(record.factory, 'moved'));
    return undefined;
  },
);

function encodeRef(proxy: unknown): undefined {
  const state = proxyState(proxy)!;
  const extra = refExtra(state);
  const factory = storeFactoryOf(state, 'serialize');
  if (state.invalid) throw state.invalid();
  extra.moved = true;
  invalidateProxy(proxy, () => invalidError(factory, 'moved'));
  return undefined;
}

for (const kind of ['ref', 'refmut'] as const) {
  registerProxyKind(
    kind,
    (data, shape) =>
      makeRef(kind, factoryFromData(data) as StoreFactory, shape, undefined, undefined),
    encodeRef,
  );
}
