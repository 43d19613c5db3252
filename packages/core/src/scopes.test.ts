import { ReferenceInvalidError, ReferenceNotOwnedError } from './errors.js';
import { describeEachBackend } from './fixtures/backends.js';
import { assertBuilt, runChild } from './fixtures/run-child.js';
import {
  borrow,
  dispose,
  mutBorrow,
  type RefProxy,
  referenceInfo,
  waitForEvictions,
} from './ref.js';
import { markRefsOutOfScope, submit } from './scopes.js';
import { deserialize, serialize } from './serialize.js';
import type { Store } from './store.js';

describeEachBackend('scopes', (backend) => {
  let store: Store;
  beforeEach(() => {
    store = backend().newStore();
  });
  afterEach(async () => {
    await waitForEvictions();
    expect(await backend().objectCount()).toBe(0);
  });

  test('markRefsOutOfScope returns the borrows, invalidates the refs and skips repeats', async () => {
    const owned = await store.ownedProxy({ a: 1 });
    const a = borrow(owned);
    const b = borrow(owned);
    markRefsOutOfScope(a);
    expect(referenceInfo(owned)).toMatchObject({ refs: 1 });
    expect(() => a.a).toThrow(ReferenceInvalidError);
    markRefsOutOfScope(a, b);
    expect(referenceInfo(owned)).toMatchObject({ refs: 0 });
    const m = mutBorrow(owned);
    markRefsOutOfScope(m);
    expect(referenceInfo(owned)).toMatchObject({ refMuts: 0 });
    await dispose(owned);
  });

  test('markRefsOutOfScope refuses refs with no owner here, before releasing any', async () => {
    const owned = await store.ownedProxy({ a: 1 });
    const local = borrow(owned);
    const moved = borrow(owned);
    const received = deserialize(serialize(moved)) as RefProxy<{ a: number }>;
    expect(() => markRefsOutOfScope(local, received)).toThrow(ReferenceNotOwnedError);
    expect(referenceInfo(owned)).toMatchObject({ refs: 2 });
    expect(local.a).toBe(1);
    expect(() => markRefsOutOfScope(owned as never)).toThrow(TypeError);
    markRefsOutOfScope(local, moved);
    await dispose(owned);
  });

  test('submit releases the refs in args and kwargs when the task fulfils', async () => {
    const owned = await store.ownedProxy([1, 2, 3]);
    const ref = borrow(owned);
    const other = borrow(owned);
    const seen: unknown[] = [];
    const task = async (values: number[], opts: { scale: RefProxy<number[]> }) => {
      seen.push(referenceInfo(values)?.valid, referenceInfo(opts.scale)?.valid);
      return values.reduce((x, y) => x + y, 0) * opts.scale.length;
    };
    const result = await submit(task, { args: [ref], kwargs: { scale: other } });
    expect(result).toBe(18);
    expect(seen).toEqual([true, true]); // valid while the task ran
    expect(referenceInfo(owned)).toMatchObject({ refs: 0 }); // released before `await` resumed
    expect(() => ref[0]).toThrow(ReferenceInvalidError);
    await dispose(owned);
  });

  test('submit releases refs when the task rejects or throws, and registerCustomRefs', async () => {
    const owned = await store.ownedProxy({ a: 1 });
    const nested = borrow(owned);
    const direct = borrow(owned);
    const failing = async (_: unknown, __: unknown) => {
      throw new Error('task failed');
    };
    await expect(
      submit(failing, { args: [direct, { inside: nested }], registerCustomRefs: [nested] }),
    ).rejects.toThrow('task failed');
    expect(referenceInfo(owned)).toMatchObject({ refs: 0 });
    const sync = borrow(owned);
    expect(() =>
      submit(
        (_: unknown): Promise<void> => {
          throw new Error('not submitted');
        },
        { args: [sync] },
      ),
    ).toThrow('not submitted');
    expect(referenceInfo(owned)).toMatchObject({ refs: 0 });
    const notAPromise = borrow(owned);
    expect(() => submit((() => 42) as never, { args: [notAPromise] })).toThrow(TypeError);
    expect(referenceInfo(owned)).toMatchObject({ refs: 0 });
    await dispose(owned);
  });

  test('submit refuses a ref with no owner here before running the task', async () => {
    const owned = await store.ownedProxy({ a: 1 });
    const moved = borrow(owned);
    const received = deserialize(serialize(moved));
    let ran = false;
    expect(() =>
      submit(
        async (_: unknown) => {
          ran = true;
        },
        { args: [received] },
      ),
    ).toThrow(ReferenceNotOwnedError);
    expect(ran).toBe(false);
    markRefsOutOfScope(moved);
    await dispose(owned);
  });

  test('submit to another process: the task reads the borrowed data; the ref is released after', async () => {
    const b = backend();
    // The in-memory LocalConnector's data is not visible to another process.
    if (!b.shared) {
      expect(b.name).toBe('local');
      return;
    }
    assertBuilt(b.connectorDist);
    const owned = await store.ownedProxy([1, 2, 3, 4]);
    const ref = borrow(owned);
    const runRemote = async (arg: RefProxy<number[]>) => {
      const result = await runChild({
        mode: 'sum',
        payload: Buffer.from(serialize(arg)).toString('base64'),
        storeConfig: store.config(),
        connectorDist: b.connectorDist,
      });
      expect(result.stderr).toBe('');
      return result.replies[0]?.sum;
    };
    const pending = submit(runRemote, { args: [ref] });
    expect(referenceInfo(owned)).toMatchObject({ refs: 1 }); // the moved ref still counts
    expect(await pending).toBe(10);
    expect(referenceInfo(owned)).toMatchObject({ refs: 0 });
    expect(() => ref.length).toThrow(ReferenceInvalidError);
    await dispose(owned);
  });
});
