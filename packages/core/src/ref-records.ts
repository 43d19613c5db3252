// Ownership bookkeeping: the records owners and borrows keep, and what happens when either
// is garbage-collected. Held values never reach a proxy, or nothing would be collected.
import type { ConnectorKey } from './connector.js';
import { Store, type StoreConfig } from './store.js';
import type { StoreFactory } from './store-factory.js';
import { getStore } from './store-registry.js';

/** Bookkeeping of an owner: how many borrows are out, and whether it still owns its data. */
export interface OwnerRecord {
  status: 'live' | 'moved' | 'disposed';
  refs: number;
  refMuts: number;
  factory: StoreFactory;
  evicting: Promise<void> | undefined;
  error: unknown;
}

/** One borrow, shared by the ref's state and its finalizer (never the ref itself). */
export interface BorrowRecord {
  kind: 'ref' | 'refmut';
  owner: OwnerRecord | undefined;
  released: boolean;
}

export interface RefExtra {
  borrow: BorrowRecord;
  /** The owner proxy itself: a strong reference, so a live borrow keeps its owner alive. */
  ownerProxy: unknown;
  moved: boolean;
}

/** What the owner finalizer keeps: enough to evict, and nothing that reaches the proxy. */
export interface OwnerHeld {
  key: ConnectorKey;
  storeConfig: StoreConfig;
  store: WeakRef<Store> | undefined;
  record: OwnerRecord;
}

const inflight = new Set<Promise<void>>();

export function track(promise: Promise<void>): Promise<void> {
  const tracked = promise.finally(() => inflight.delete(tracked));
  inflight.add(tracked);
  return tracked;
}

/**
 * Resolves once every eviction started by ownership (disposal or garbage collection) has
 * finished. Await it before closing a store whose owned proxies were just dropped.
 */
export async function waitForEvictions(): Promise<void> {
  while (inflight.size > 0) await Promise.allSettled([...inflight]);
}

async function evictAfterCollection(held: OwnerHeld): Promise<void> {
  const live = held.store?.deref() ?? getStore(held.storeConfig.name);
  if (live) {
    await live.evict(held.key);
    return;
  }
  // The owner outlived every store object of its name in this process: rebuild one just
  // long enough to evict, so dropping the last proxy still frees the stored data.
  const temporary = Store.fromConfig({ ...held.storeConfig, register: false });
  try {
    await temporary.evict(held.key);
  } finally {
    await temporary.close();
  }
}

export const owners = new FinalizationRegistry<OwnerHeld>((held) => {
  if (held.record.status !== 'live') return;
  held.record.status = 'disposed';
  // Any borrow still counted belongs to a ref that is unreachable too: a live ref would
  // have kept this owner alive. So the data is safe to evict.
  track(
    evictAfterCollection(held).catch((error: unknown) => {
      held.record.error = error;
    }),
  );
});

export const borrows = new FinalizationRegistry<BorrowRecord>((borrow) => {
  releaseBorrow(borrow);
});

export function releaseBorrow(borrow: BorrowRecord): void {
  if (borrow.released) return;
  borrow.released = true;
  const owner = borrow.owner;
  borrow.owner = undefined;
  if (!owner) return;
  if (borrow.kind === 'ref') owner.refs = Math.max(0, owner.refs - 1);
  else owner.refMuts = 0;
}
