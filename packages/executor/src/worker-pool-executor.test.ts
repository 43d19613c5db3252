import {
  closeRegisteredStores,
  dispose,
  extract,
  intoOwned,
  isProxy,
  proxyState,
} from '@proxy/core';
import { TaskTimeoutError, WorkerCrashedError } from './errors.js';
import { ProxyAlways, ProxyType } from './policy.js';
import { StoreExecutor } from './store-executor.js';
import { task } from './task.js';
import { fileStore } from './test-file-store.js';
import { expectNoStoresLeft, FIXTURES } from './test-helpers.js';
import { WorkerPoolExecutor } from './worker-pool-executor.js';

const concat = task<(base: string, num: number) => string>(FIXTURES, 'concat');
const fail = task<(message: string) => never>(FIXTURES, 'fail');
const crash = task<(code: number) => never>(FIXTURES, 'crash');
const sleep = task<(ms: number, value?: unknown) => unknown>(FIXTURES, 'sleep');
const bytes = task<(n: number) => Buffer>(FIXTURES, 'bytes');
const identity = task<(value: Buffer) => Buffer>(FIXTURES, 'identity');
const wrap = task<(value: Buffer) => { data: Buffer }>(FIXTURES, 'wrap');
const whereShared = task<(input: Buffer) => { worker: string; cached: boolean; length: number }>(
  FIXTURES,
  'whereShared',
);

describe('WorkerPoolExecutor (real worker threads, Piscina)', () => {
  afterEach(expectNoStoresLeft);

  it('proxies inputs and results by policy across threads', async () => {
    const { store, cleanup, files } = fileStore('threads-concat');
    try {
      await using executor = new StoreExecutor(new WorkerPoolExecutor({ maxThreads: 2 }), store, {
        shouldProxy: ProxyType(String, Buffer),
      });
      const result = await executor.submit(concat, 'foobar', 42);
      expect(isProxy(result)).toBe(true);
      expect(extract(result)).toBe('foobar-42');
      // A 1 MB Buffer made in a worker comes back as a proxy to the stored bytes.
      const big = await executor.submit(bytes, 1_000_000);
      expect(isProxy(big)).toBe(true);
      expect(big.length).toBe(1_000_000);
      expect(big[999_999]).toBe(7);
      expect(files().filter((f) => !f.endsWith('.ready'))).toHaveLength(2);
    } finally {
      cleanup();
    }
  });

  it('many tasks sharing one proxied input fetch it at most once per worker', async () => {
    const { store, cleanup } = fileStore('threads-shared');
    try {
      await using executor = new StoreExecutor(new WorkerPoolExecutor({ maxThreads: 2 }), store, {
        closeStore: true,
      });
      const input = await store.proxy(Buffer.alloc(1_000_000, 1));
      const runs = await Promise.all(
        Array.from({ length: 20 }, () => executor.submit(whereShared, input)),
      );
      const fetches = new Map<string, number>();
      for (const r of runs) {
        expect(r.length).toBe(1_000_000);
        if (!r.cached) fetches.set(r.worker, (fetches.get(r.worker) ?? 0) + 1);
      }
      expect(fetches.size).toBeGreaterThanOrEqual(1);
      for (const count of fetches.values()) expect(count).toBe(1);
    } finally {
      cleanup();
    }
  });

  it('a throwing task rejects with its error and stack; its proxied input is evicted', async () => {
    const { store, cleanup, files } = fileStore('threads-fail');
    try {
      await using executor = new StoreExecutor(new WorkerPoolExecutor({ maxThreads: 1 }), store, {
        shouldProxy: ProxyAlways,
      });
      const error = await executor.submit(fail, 'broken').catch((e: Error) => e);
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toBe('broken');
      expect((error as Error).stack).toMatch(/at fail \(.*fixtures\/tasks\.mjs/);
      expect(files()).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('a worker thread that exits mid-task gives WorkerCrashedError, and the pool recovers', async () => {
    await using pool = new WorkerPoolExecutor({ maxThreads: 1 });
    await expect(pool.submit(crash, 5)).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(await pool.submit(sleep, 1, 'alive')).toBe('alive');
  });

  it('a task that returns its proxied input gives the caller that data (not evicted under it)', async () => {
    const { store, cleanup, files } = fileStore('threads-identity');
    try {
      await using executor = new StoreExecutor(new WorkerPoolExecutor({ maxThreads: 1 }), store, {
        shouldProxy: ProxyAlways,
      });
      const result = await executor.submit(identity, Buffer.alloc(1000, 4));
      expect(isProxy(result)).toBe(true);
      expect(result.length).toBe(1000);
      expect(result[999]).toBe(4);
      expect(files().filter((f) => !f.endsWith('.ready'))).toHaveLength(1);
      await dispose(result);
      expect(files()).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('a result the worker proxied keeps the input it holds; the caller owns the result alone', async () => {
    const { store, cleanup, files } = fileStore('threads-nested');
    try {
      await using executor = new StoreExecutor(new WorkerPoolExecutor({ maxThreads: 1 }), store, {
        shouldProxy: ProxyAlways,
      });
      // The worker proxies { data: <input proxy> }: the stored result references the input.
      const result = await executor.submit(wrap, Buffer.alloc(1000, 4));
      expect(proxyState(result)?.kind).toBe('owned');
      const data = result.data;
      expect(data[999]).toBe(4);
      expect(files().filter((f) => !f.endsWith('.ready'))).toHaveLength(2);
      await dispose(result);
      expect(files().filter((f) => !f.endsWith('.ready'))).toHaveLength(1);
      // The input is the caller's now, as a plain proxy: intoOwned + dispose frees it.
      expect(proxyState(data)?.kind).toBe('proxy');
      await dispose(intoOwned(data));
      expect(files()).toEqual([]);
      // `data` came out of the stored result, so core resolved it through a store rebuilt from
      // its config (and registered): close that one.
      await closeRegisteredStores();

      // A proxy the caller made and passes through the worker stays the caller's.
      const mine = await store.proxy(Buffer.alloc(10, 1));
      const back = await executor.submit(identity, mine);
      expect(back).toBe(mine);
      expect(files().filter((f) => !f.endsWith('.ready'))).toHaveLength(1);
    } finally {
      cleanup();
    }
  });

  it('timeoutMs terminates a stuck thread with TaskTimeoutError; the pool recovers', async () => {
    await using pool = new WorkerPoolExecutor({ maxThreads: 1, timeoutMs: 300 });
    await expect(pool.submit(sleep, 60_000)).rejects.toBeInstanceOf(TaskTimeoutError);
    expect(await pool.submit(sleep, 1, 'after')).toBe('after');
  });

  it('shutdown({ cancelPending }) cancels queued tasks only', async () => {
    const pool = new WorkerPoolExecutor({ maxThreads: 1 });
    const running = pool.submit(sleep, 200, 'finished');
    const queued = Promise.allSettled([pool.submit(sleep, 1), pool.submit(sleep, 1)]);
    expect(pool.pendingCount).toBe(2);
    await pool.shutdown({ cancelPending: true });
    expect(await running).toBe('finished');
    for (const q of await queued)
      expect(q).toMatchObject({ status: 'rejected', reason: { name: 'TaskCancelledError' } });
    expect(pool.pool.threads).toHaveLength(0);
  });
});
