import {
  dispose,
  extract,
  getFactory,
  intoOwned,
  isProxy,
  proxyState,
  ReferenceNotOwnedError,
  type StoreFactory,
} from '@proxy/core';
import { TaskTimeoutError, WorkerCrashedError } from './errors.js';
import { ProxyAlways, ProxyType } from './policy.js';
import { ProcessPoolExecutor } from './process-pool-executor.js';
import { StoreExecutor } from './store-executor.js';
import { task } from './task.js';
import { fileStore } from './test-file-store.js';
import { alive, expectNoStoresLeft, FIXTURES } from './test-helpers.js';

const concat = task<(base: string, num: number) => string>(FIXTURES, 'concat');
const inspectArgs = task<(...args: unknown[]) => { proxy: boolean; type: string }[]>(
  FIXTURES,
  'inspectArgs',
);
const fail = task<(message: string) => never>(FIXTURES, 'fail');
const failWithCode = task<(message: string) => never>(FIXTURES, 'failWithCode');
const crash = task<(code: number) => never>(FIXTURES, 'crash');
const sleep = task<(ms: number, value?: unknown) => unknown>(FIXTURES, 'sleep');
const length = task<(buf: Buffer) => number>(FIXTURES, 'length');
const identity = task<<T>(value: T) => T>(FIXTURES, 'identity');
const wrap = task<(value: Buffer) => { data: Buffer }>(FIXTURES, 'wrap');

describe('ProcessPoolExecutor (real child processes)', () => {
  afterEach(expectNoStoresLeft);

  it("runs the docs' example: concat('foobar', 42) with ProxyType(String) and a FileConnector", async () => {
    const { store, cleanup, files } = fileStore('docs-example');
    const pool = new ProcessPoolExecutor({ size: 2 });
    try {
      await using executor = new StoreExecutor(pool, store, { shouldProxy: ProxyType(String) });
      const result = await executor.submit(concat, 'foobar', 42);
      expect(isProxy(result)).toBe(true);
      expect(extract(result)).toBe('foobar-42');
      // biome-ignore lint/suspicious/noDoubleEquals: loose equality is the docs' check; a proxy is never === a primitive
      expect(result == 'foobar-42').toBe(true);
      // The string went by proxy, the number by value.
      const kinds = await executor.submit(inspectArgs, 'foobar', 42);
      expect(kinds).toEqual([
        { proxy: true, type: 'string' },
        { proxy: false, type: 'number' },
      ]);
      // Inputs were evicted; the one remaining object is the result, which the child wrote.
      const resultKey = (getFactory(result) as StoreFactory).key as { filename: string };
      expect(files().filter((f) => !f.endsWith('.ready'))).toEqual([resultKey.filename]);
      // The caller owns the result the child wrote: disposing it evicts the file.
      expect(proxyState(result)?.kind).toBe('owned');
      await dispose(result);
      expect(files()).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('a proxy the caller passes through a child is not taken over; a nested proxied input is left to the caller', async () => {
    const { store, cleanup, files } = fileStore('process-ownership');
    try {
      await using executor = new StoreExecutor(new ProcessPoolExecutor({ size: 1 }), store, {
        shouldProxy: ProxyType(Buffer),
      });
      const mine = await store.proxy(Buffer.alloc(10, 1));
      const key = (getFactory(mine) as StoreFactory).key;
      const back = await executor.submit(identity, mine);
      expect(back).toBe(mine);
      // Not an owner: disposing it is refused and dropping it evicts nothing.
      expect(proxyState(back)?.kind).toBe('proxy');
      await expect(dispose(back)).rejects.toBeInstanceOf(ReferenceNotOwnedError);
      expect(await store.exists(key)).toBe(true);
      await store.evict(key);

      // { data: input }: not a Buffer, so it comes back by value, still referencing the input.
      const result = await executor.submit(wrap, Buffer.alloc(1000, 4));
      expect(isProxy(result)).toBe(false);
      expect(result.data[999]).toBe(4);
      expect(files().filter((f) => !f.endsWith('.ready'))).toHaveLength(1);
      await dispose(intoOwned(result.data));
      expect(files()).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('a task that throws rejects with its error (message, name and stack) and its input is evicted', async () => {
    const { store, cleanup, files } = fileStore('process-fail');
    try {
      await using executor = new StoreExecutor(new ProcessPoolExecutor({ size: 1 }), store, {
        shouldProxy: ProxyAlways,
      });
      const error = await executor.submit(fail, 'no such thing').catch((e: Error) => e);
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toBe('no such thing');
      expect((error as Error).stack).toContain('fixtures/tasks.mjs');
      expect(files()).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it("a task's error keeps its code and cause; a missing export is TaskNotFoundError", async () => {
    const pool = new ProcessPoolExecutor({ size: 1 });
    try {
      const error = (await pool.submit(failWithCode, 'coded').catch((e: Error) => e)) as Error;
      expect(error).toMatchObject({ name: 'Error', message: 'coded', code: 'E_TASK_SPECIFIC' });
      expect(error.cause).toBeInstanceOf(TypeError);
      expect((error.cause as Error).message).toBe('the underlying reason');
      const missing = await pool.submit(task(FIXTURES, 'noSuchExport')).catch((e: Error) => e);
      expect(missing).toMatchObject({
        name: 'TaskNotFoundError',
        code: 'PROXY_TASK_NOT_FOUND',
        message: expect.stringContaining('has no function export "noSuchExport"'),
      });
    } finally {
      await pool.shutdown();
    }
  });

  it('a child that exits mid-task fails that task with WorkerCrashedError; the pool carries on', async () => {
    const pool = new ProcessPoolExecutor({ size: 1 });
    try {
      const crashed = await pool.submit(crash, 3).catch((e: Error) => e);
      expect(crashed).toBeInstanceOf(WorkerCrashedError);
      expect((crashed as Error).message).toMatch(/exited with code 3/);
      expect(await pool.submit(length, Buffer.alloc(5))).toBe(5);
    } finally {
      await pool.shutdown();
    }
  });

  it('timeoutMs kills a stuck child with TaskTimeoutError', async () => {
    const pool = new ProcessPoolExecutor({ size: 1, timeoutMs: 1500 });
    try {
      await expect(pool.submit(sleep, 60_000)).rejects.toBeInstanceOf(TaskTimeoutError);
      expect(await pool.submit(sleep, 1, 'after')).toBe('after');
    } finally {
      await pool.shutdown();
    }
  });

  it('shutdown({ cancelPending }) cancels queued tasks, finishes the running one, and leaves no child behind', async () => {
    const pool = new ProcessPoolExecutor({ size: 1 });
    const running = pool.submit(sleep, 200, 'done');
    const queued = Promise.allSettled([pool.submit(sleep, 1), pool.submit(sleep, 1)]);
    // The first task went to a child at once (forked on demand); the other two wait in our queue.
    expect(pool.pendingCount).toBe(2);
    const pids = pool.pids;
    expect(pids).toHaveLength(1);
    await pool.shutdown({ cancelPending: true });
    expect(await running).toBe('done');
    for (const q of await queued)
      expect(q).toMatchObject({ status: 'rejected', reason: { name: 'TaskCancelledError' } });
    expect(pids.filter(alive)).toEqual([]);
  });

  it('refuses plain functions with a clear error', async () => {
    const pool = new ProcessPoolExecutor({ size: 1 });
    await expect(pool.execute({ task: (x: number) => x, args: [1] })).rejects.toThrow(
      /export it from a module and pass task/,
    );
    await pool.shutdown();
  });
});
