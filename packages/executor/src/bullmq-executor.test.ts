import { randomUUID } from 'node:crypto';
import {
  describeWithService,
  freePort,
  REDIS_INSTALL_HINT,
  type RedisServer,
  redisCommand,
  redisServerAvailable,
  startRedisServer,
} from '@proxy/connector-test-suite';
import { extract, isProxy, serialize } from '@proxy/core';
import { BullMQExecutor } from './bullmq-executor.js';
import {
  PayloadTooLargeError,
  TaskCancelledError,
  TaskTimeoutError,
  WorkerCrashedError,
} from './errors.js';
import { ProxyAlways, ProxyNever, ProxyType } from './policy.js';
import { StoreExecutor } from './store-executor.js';
import { task } from './task.js';
import { fileStore } from './test-file-store.js';
import { alive, expectNoStoresLeft, FIXTURES } from './test-helpers.js';
import { startWorkerProcess } from './test-worker-process.js';

const concat = task<(base: string, num: number) => string>(FIXTURES, 'concat');
const length = task<(buf: Buffer) => number>(FIXTURES, 'length');
const fail = task<(message: string) => never>(FIXTURES, 'fail');
const failWithCode = task<(message: string) => never>(FIXTURES, 'failWithCode');
const sum = task<(a: number, b: number) => number>(FIXTURES, 'sum');
const crash = task<(code: number) => never>(FIXTURES, 'crash');
const inspectArgs = task<(...args: unknown[]) => { proxy: boolean; type: string }[]>(
  FIXTURES,
  'inspectArgs',
);
const slowCopy = task<(ms: number, input: Buffer) => Buffer>(FIXTURES, 'slowCopy');
const sleep = task<(ms: number, value: string) => string>(FIXTURES, 'sleep');

const TEN_MB = 10 * 1024 * 1024;
describeWithService(
  'redis-server',
  redisServerAvailable(),
  REDIS_INSTALL_HINT,
  'BullMQExecutor (real Redis, real BullMQ workers)',
  () => {
    let redis: RedisServer;
    let connection: { host: string; port: number; maxRetriesPerRequest: null };
    let worker: { stop: () => Promise<void> };
    let queueName: string;

    beforeAll(async () => {
      redis = await startRedisServer();
      connection = { host: redis.host, port: redis.port, maxRetriesPerRequest: null };
    });
    afterAll(async () => {
      await redis?.stop();
    });
    beforeEach(async () => {
      queueName = `executor-test-${randomUUID()}`;
      // Workers run the built CLI in another process, as they would on another machine.
      worker = await startWorkerProcess([
        '--redis',
        redis.url,
        '--queue',
        queueName,
        '--concurrency',
        '2',
      ]);
    });
    afterEach(async () => {
      await worker.stop();
      expectNoStoresLeft();
    });

    it("runs the docs' example through Redis: the string and the result by proxy, the number by value", async () => {
      const { store, cleanup } = fileStore('bullmq-docs');
      try {
        await using executor = new StoreExecutor(
          new BullMQExecutor({ queueName, connection }),
          store,
          { shouldProxy: ProxyType(String) },
        );
        const result = await executor.submit(concat, 'foobar', 42);
        expect(isProxy(result)).toBe(true);
        expect(extract(result)).toBe('foobar-42');
        expect(await executor.submit(sum, 2, 40)).toBe(42);
      } finally {
        cleanup();
      }
    });

    it('refuses a 10 MB argument by value: nothing is written to Redis', async () => {
      await using executor = new BullMQExecutor({ queueName, connection });
      await expect(executor.submit(length, Buffer.alloc(TEN_MB))).rejects.toBeInstanceOf(
        PayloadTooLargeError,
      );
      const counts = await executor.queue.getJobCounts('waiting', 'active', 'completed', 'failed');
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
      expect(await executor.submit(length, Buffer.alloc(1000))).toBe(1000);
    });

    it('a StoreExecutor proxies a 10 MB argument even under ProxyNever; the job data stays tiny', async () => {
      const { store, cleanup, files } = fileStore('bullmq-big');
      try {
        const bull = new BullMQExecutor({
          queueName,
          connection,
          jobOptions: { removeOnComplete: false },
        });
        await using executor = new StoreExecutor(bull, store, { shouldProxy: ProxyNever });
        expect(await executor.submit(length, Buffer.alloc(TEN_MB, 3))).toBe(TEN_MB);
        const [job] = await bull.queue.getJobs(['completed']);
        const client = await bull.queue.client;
        const data = (await client.hget(bull.queue.toKey(job.id!), 'data')) as string;
        expect(data.length).toBeGreaterThan(100);
        expect(data.length).toBeLessThan(4096);
        expect(JSON.parse(data).export).toBe('length');
        // The proxied input was evicted once the job finished.
        expect(files()).toEqual([]);
      } finally {
        cleanup();
      }
    });

    it('proxies arguments by their real serialized size at the maxInlineBytes boundary', async () => {
      const { store, cleanup, files } = fileStore('bullmq-boundary');
      try {
        const bull = new BullMQExecutor({ queueName, connection });
        const limit = bull.maxInlineBytes;
        await using executor = new StoreExecutor(bull, store, { shouldProxy: ProxyNever });
        // The largest Buffer whose argument list (framing included) still fits by value.
        let fits = limit;
        while (serialize([Buffer.alloc(fits)]).byteLength > limit) fits--;
        expect(fits).toBeLessThan(limit);
        const proxied = async (...args: unknown[]) =>
          (await executor.submit(inspectArgs, ...args)).map((a) => a.proxy);
        expect(await proxied(Buffer.alloc(fits))).toEqual([false]);
        expect(await proxied(Buffer.alloc(fits + 1))).toEqual([true]);
        expect(await proxied(Buffer.alloc(limit))).toEqual([true]);
        // Two halves: their contents alone fit exactly, with framing they do not; one is proxied.
        expect((await proxied(Buffer.alloc(limit / 2), Buffer.alloc(limit / 2))).sort()).toEqual([
          false,
          true,
        ]);
        expect(await proxied('x'.repeat(limit - 4))).toEqual([true]);
        expect(await executor.submit(length, Buffer.alloc(limit, 1))).toBe(limit);
        expect(files()).toEqual([]);
      } finally {
        cleanup();
      }
    });

    it("a throwing task rejects with the worker's error (name, message, stack) and its input is evicted", async () => {
      const { store, cleanup, files } = fileStore('bullmq-fail');
      try {
        await using executor = new StoreExecutor(
          new BullMQExecutor({ queueName, connection }),
          store,
          { shouldProxy: ProxyAlways },
        );
        const error = await executor.submit(fail, 'queue says no').catch((e: Error) => e);
        expect((error as Error).name).toBe('RangeError');
        expect((error as Error).message).toBe('queue says no');
        expect((error as Error).stack).toMatch(/at fail \(.*fixtures\/tasks\.mjs/);
        expect(files()).toEqual([]);
      } finally {
        cleanup();
      }
    });

    it("a task's error keeps its code and cause through Redis; a missing export is TaskNotFoundError", async () => {
      await using executor = new BullMQExecutor({ queueName, connection });
      const error = (await executor.submit(failWithCode, 'coded').catch((e: Error) => e)) as Error;
      expect(error).toMatchObject({ name: 'Error', message: 'coded', code: 'E_TASK_SPECIFIC' });
      expect(error.stack).toMatch(/at failWithCode \(.*fixtures\/tasks\.mjs/);
      expect(error.cause).toBeInstanceOf(TypeError);
      expect((error.cause as Error).message).toBe('the underlying reason');
      const missing = await executor.submit(task(FIXTURES, 'noSuchExport')).catch((e: Error) => e);
      expect(missing).toMatchObject({ name: 'TaskNotFoundError', code: 'PROXY_TASK_NOT_FOUND' });
    });

    it('shutdown({ cancelPending }) removes jobs no worker has taken; timeoutMs bounds the wait', async () => {
      const idleQueue = `${queueName}-idle`;
      const executor = new BullMQExecutor({ queueName: idleQueue, connection });
      const pending = Promise.allSettled([executor.submit(sum, 1, 2), executor.submit(sum, 3, 4)]);
      while ((await executor.queue.getWaitingCount()) < 2)
        await new Promise((r) => setTimeout(r, 10));
      await executor.shutdown({ cancelPending: true });
      for (const p of await pending)
        expect(p).toMatchObject({ status: 'rejected', reason: expect.any(TaskCancelledError) });

      // A timed-out job no worker has taken is removed from Redis: no worker can run it later.
      await using timed = new BullMQExecutor({ queueName: idleQueue, connection, timeoutMs: 300 });
      const error = await timed.submit(sum, 1, 1).catch((e: Error) => e);
      expect(error).toBeInstanceOf(TaskTimeoutError);
      const counts = await timed.queue.getJobCounts(
        'waiting',
        'active',
        'delayed',
        'prioritized',
        'completed',
        'failed',
      );
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
      expect((error as Error).message).toMatch(
        /did not finish within 300 ms: no worker had taken it, and its job was removed from the queue, so it will not run/,
      );
      await timed.queue.obliterate({ force: true });
    });

    it('a task that times out while running keeps its inputs until it ends; its late result is evicted', async () => {
      const { store, cleanup, files } = fileStore('bullmq-late');
      try {
        const bull = new BullMQExecutor({
          queueName,
          connection,
          timeoutMs: 800,
          jobOptions: { removeOnComplete: false },
        });
        await using executor = new StoreExecutor(bull, store, { shouldProxy: ProxyAlways });
        const stored = () => files().filter((f) => !f.endsWith('.ready'));
        // Reads its input after 2 s, then returns a copy (which the worker proxies).
        const error = await executor
          .submit(slowCopy, 2000, Buffer.alloc(1000, 2))
          .catch((e: Error) => e);
        expect(error).toBeInstanceOf(TaskTimeoutError);
        // The job still runs: its input (and the number, both proxied) stay until it ends.
        expect(stored()).toHaveLength(2);
        expect((error as Error).message).toMatch(
          /did not finish within 800 ms: a worker is running it .* may still run to the end; its result will be discarded/,
        );
        const deadline = Date.now() + 10_000;
        while ((await bull.queue.getCompletedCount()) === 0 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        // It read its input and completed (with the input evicted early it would have failed).
        const [job] = await bull.queue.getJobs(['completed']);
        expect(job?.returnvalue).toBeDefined();
        expect(await bull.queue.getFailedCount()).toBe(0);
        // Then the inputs and the late result nobody reads are evicted.
        while (stored().length > 0 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        expect(stored()).toEqual([]);
      } finally {
        cleanup();
      }
    });

    it('shutdown waits for a timed-out task still running at most timeoutMs more, then evicts its inputs', async () => {
      const { store, cleanup, files } = fileStore('bullmq-late-shutdown');
      try {
        const executor = new StoreExecutor(
          new BullMQExecutor({ queueName, connection, timeoutMs: 800 }),
          store,
          { shouldProxy: ProxyAlways },
        );
        const error = await executor.submit(slowCopy, 3000, Buffer.alloc(10)).catch((e) => e);
        expect(error).toBeInstanceOf(TaskTimeoutError);
        expect(files().filter((f) => !f.endsWith('.ready'))).toHaveLength(2);
        const started = Date.now();
        await executor.shutdown();
        expect(Date.now() - started).toBeLessThan(2500);
        expect(files()).toEqual([]);
      } finally {
        cleanup();
      }
    });

    it('a worker process that dies mid-job gives WorkerCrashedError once another worker sees the stall', async () => {
      const crashQueue = `${queueName}-crash`;
      const flags = [
        '--redis',
        redis.url,
        '--queue',
        crashQueue,
        '--lock-duration',
        '1000',
        '--stalled-interval',
        '500',
        '--max-stalled-count',
        '0',
      ];
      const workers = await Promise.all([startWorkerProcess(flags), startWorkerProcess(flags)]);
      try {
        await using executor = new BullMQExecutor({
          queueName: crashQueue,
          connection,
          timeoutMs: 20_000,
        });
        const error = await executor.submit(crash, 9).catch((e: Error) => e);
        expect(error).toBeInstanceOf(WorkerCrashedError);
        expect((error as Error).message).toMatch(/crash .*died before finishing/);
        expect(await executor.submit(sum, 20, 22)).toBe(42);
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    });

    it('the only worker process dying mid-job: WorkerCrashedError without timeoutMs, the job failed for good, nothing left behind', async () => {
      // A private server: at the end CLIENT LIST must hold no connection but the probe's own.
      const own = await startRedisServer({ private: true });
      const clients = async () =>
        String(await redisCommand(own.host, own.port, ['CLIENT', 'LIST']))
          .split('\n')
          .filter((line) => line.trim() !== '');
      try {
        const lone = `lone-${randomUUID()}`;
        const flags = ['--redis', own.url, '--queue', lone, '--lock-duration', '1000'];
        const workers = [await startWorkerProcess(flags)];
        try {
          await using executor = new BullMQExecutor({
            queueName: lone,
            connection: { host: own.host, port: own.port, maxRetriesPerRequest: null },
            workerLostMs: 500,
            // Retries and failed-job removal on: neither may let the job run again or hide it.
            jobOptions: { attempts: 3, removeOnFail: false },
          });
          // A live worker holding a job longer than the watchdog's window is left alone.
          expect(await executor.submit(sleep, 1200, 'slow')).toBe('slow');

          const started = Date.now();
          // Bounded here, so that a hung promise fails this test instead of hanging jest.
          let bound: NodeJS.Timeout | undefined;
          const error = await Promise.race([
            executor.submit(crash, 9).catch((e: Error) => e),
            new Promise<Error>((resolve) => {
              bound = setTimeout(() => resolve(new Error('still pending after 15 s')), 15_000);
            }),
          ]).finally(() => clearTimeout(bound));
          expect(error).toBeInstanceOf(WorkerCrashedError);
          // Lock (1 s) + no worker for 500 ms + a poll; bounded well before any default.
          expect(Date.now() - started).toBeLessThan(8000);
          expect(workers[0]!.child.exitCode).toBe(9);
          const failed = await executor.queue.getJobs(['failed']);
          expect(failed).toHaveLength(1);
          const job = failed[0]!;
          expect(error.message).toContain(`job ${job.id} on queue "${lone}"`);
          expect(error.message).toMatch(/crash .*died before finishing: no worker .* lock expired/);
          // Failed in Redis for good: no retry scheduled, nothing a new worker could pick up.
          expect(await job.getState()).toBe('failed');
          expect(job.failedReason).toBe(error.message);
          expect(job.attemptsMade).toBe(1);
          const counts = await executor.queue.getJobCounts(
            'active',
            'wait',
            'paused',
            'delayed',
            'prioritized',
          );
          expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);

          // A worker started afterwards (stall checks every 200 ms) runs new work and not the
          // crashed job: running it would kill this worker too.
          workers.push(await startWorkerProcess([...flags, '--stalled-interval', '200']));
          expect(await executor.submit(sum, 20, 22)).toBe(42);
          expect(await executor.submit(sum, 1, 1)).toBe(2);
          expect(workers[1]!.child.exitCode).toBeNull();
          expect(await job.getState()).toBe('failed');
          expect(executor.pendingCount).toBe(0);
        } finally {
          await Promise.all(workers.map((w) => w.stop()));
        }
        for (const w of workers) expect(alive(w.child.pid!)).toBe(false);
        // A closed connection can linger in CLIENT LIST for a moment after QUIT's reply.
        const deadline = Date.now() + 3000;
        while ((await clients()).length > 1 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        expect(await clients()).toEqual([expect.stringContaining('cmd=client|list')]);
      } finally {
        await own.stop();
      }
    });
  },
);

describe('BullMQExecutor options', () => {
  it('rejects a bad workerLostMs or watchdogIntervalMs before connecting', () => {
    const connection = { host: '127.0.0.1', port: 1, maxRetriesPerRequest: null };
    expect(() => new BullMQExecutor({ connection, workerLostMs: 0 })).toThrow(
      /workerLostMs must be > 0 or false, got 0/,
    );
    expect(() => new BullMQExecutor({ connection, workerLostMs: Number.NaN })).toThrow(RangeError);
    expect(() => new BullMQExecutor({ connection, watchdogIntervalMs: -5 })).toThrow(
      /watchdogIntervalMs must be > 0/,
    );
  });
});

describe('BullMQExecutor with Redis unreachable', () => {
  it('timeoutMs bounds a task that cannot even be queued; shutdown cancels the rest and returns', async () => {
    const port = await freePort(); // nothing listens there
    // ioredis gives a socket that never connected `disconnectTimeout` (2 s) to close after
    // `disconnect()`; shortened so that jest exits promptly.
    const connection = {
      host: '127.0.0.1',
      port,
      maxRetriesPerRequest: null,
      disconnectTimeout: 50,
    };
    const executor = new BullMQExecutor({
      queueName: `unreachable-${randomUUID()}`,
      connection,
      timeoutMs: 300,
    });
    const started = Date.now();
    const error = await executor.submit(sum, 1, 2).catch((e: Error) => e);
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect((error as Error).message).toMatch(/could not be queued within 300 ms/);
    expect(Date.now() - started).toBeLessThan(5000);

    const untimed = new BullMQExecutor({ queueName: `unreachable-${randomUUID()}`, connection });
    const pending = untimed.submit(sum, 3, 4);
    await untimed.shutdown({ cancelPending: true });
    await expect(pending).rejects.toBeInstanceOf(TaskCancelledError);
    await executor.shutdown();
  });
});
