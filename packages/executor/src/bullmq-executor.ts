import { randomUUID } from 'node:crypto';
import { errorFromData } from '@proxy/core';
import { type ConnectionOptions, Job, type JobsOptions, Queue, QueueEvents } from 'bullmq';
import {
  DEFAULT_MAX_INLINE_BYTES,
  DEFAULT_QUEUE_NAME,
  type JobPayload,
  type JobReturn,
} from './bullmq-payload.js';
import { WorkerWatchdog } from './bullmq-watchdog.js';
import { decodeResult, type TaskRequest, toCall } from './call.js';
import {
  ExecutorShutdownError,
  PayloadTooLargeError,
  TaskCancelledError,
  TaskTimeoutError,
  WorkerCrashedError,
} from './errors.js';
import type { Executor, ShutdownOptions, TaskResult } from './executor.js';
import { type LateOutcome, markStillRunning } from './late.js';
import type { AnyFunction, Task } from './task.js';

export interface BullMQExecutorOptions {
  /** Default 'proxy-executor'. Workers started with `startWorker` must use the same name. */
  queueName?: string;
  /** Redis connection (ioredis options or an ioredis instance). Required unless `queue` is given. */
  connection?: ConnectionOptions;
  /** An existing BullMQ queue to add jobs to (not closed by `shutdown`). */
  queue?: Queue;
  /** BullMQ key prefix. Default BullMQ's ('bull'). */
  prefix?: string;
  /**
   * Largest serialized argument list written into a job (and result read back) by value.
   * Larger ones are refused (`PayloadTooLargeError`); a StoreExecutor proxies them instead.
   * Default 64 KiB.
   */
  maxInlineBytes?: number;
  /** A task not settled after this long fails with `TaskTimeoutError`. Default: no limit. */
  timeoutMs?: number;
  /** Options for every job (attempts, backoff, priority, …). */
  jobOptions?: Omit<JobsOptions, 'jobId'>;
  /**
   * The crash watchdog: a job of ours that is active in Redis with its lock expired, while no
   * worker at all has been connected to the queue for this long, is failed in Redis (no retry)
   * and its caller gets `WorkerCrashedError`. Covers the one worker dying with no other worker
   * left to run BullMQ's stall check. Default 30 000 (BullMQ's default `lockDuration`);
   * `false` turns the watchdog off.
   */
  workerLostMs?: number | false;
  /**
   * How often the watchdog polls Redis while tasks are in flight (never when idle).
   * Default `workerLostMs / 4`, within 50 ms – 5 s.
   */
  watchdogIntervalMs?: number;
}

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  name: string;
  /** Set just before the job is added: from then on it may exist in Redis. */
  added: boolean;
  /** Set by the watchdog before it fails the job: a `failed` event with it is that crash. */
  crashReason?: string;
  /** The `queue.add` call, once made. */
  adding?: Promise<unknown>;
}

/** A job whose caller timed out while it may still run: watched until it ends. */
interface Abandoned {
  name: string;
  crashReason?: string;
  end: (outcome: LateOutcome) => void;
}

/** How long a timed-out task's withdrawal (removing its job from Redis) may take. */
const WITHDRAW_MS = 2000;

const noop = () => {};

export const DEFAULT_WORKER_LOST_MS = 30_000;

/** BullMQ's failedReason for a job whose worker died (its lock expired, found by a stall check). */
const STALLED = /job stalled more than allowable limit/i;

/**
 * Runs task references as jobs on a BullMQ queue in Redis; `startWorker()` runs them in any
 * process on any machine. Job data holds only the task reference, small values and proxies
 * (their factories): a large argument never goes into Redis by value.
 */
export class BullMQExecutor implements Executor {
  readonly inProcess = false;
  readonly maxInlineBytes: number;
  readonly queue: Queue;
  private events: QueueEvents | undefined;
  private readonly ownsQueue: boolean;
  private readonly options: BullMQExecutorOptions;
  private readonly waiters = new Map<string, Waiter>();
  /** Timed-out jobs that may still run, by job id. */
  private readonly abandoned = new Map<string, Abandoned>();
  private readonly ready: Promise<void>;
  private accepting = true;
  /** Set by shutdown: `listen` must not open a QueueEvents connection any more. */
  private stopped = false;
  private closing: Promise<void> | undefined;
  private readonly watchdog: WorkerWatchdog | undefined;

  constructor(options: BullMQExecutorOptions) {
    if (!options?.queue && !options?.connection) {
      throw new TypeError(
        'BullMQExecutor: pass options.connection (Redis) or an existing options.queue',
      );
    }
    const max = options.maxInlineBytes ?? DEFAULT_MAX_INLINE_BYTES;
    if (!(max > 0)) throw new RangeError(`BullMQExecutor: maxInlineBytes must be > 0, got ${max}`);
    if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) {
      throw new RangeError(`BullMQExecutor: timeoutMs must be > 0, got ${options.timeoutMs}`);
    }
    const lostAfterMs = options.workerLostMs ?? DEFAULT_WORKER_LOST_MS;
    if (lostAfterMs !== false && !(lostAfterMs > 0)) {
      throw new RangeError(
        `BullMQExecutor: workerLostMs must be > 0 or false, got ${options.workerLostMs}`,
      );
    }
    const intervalMs =
      options.watchdogIntervalMs ??
      (lostAfterMs === false ? 0 : Math.min(5000, Math.max(50, lostAfterMs / 4)));
    if (options.watchdogIntervalMs !== undefined && !(intervalMs > 0 && intervalMs < 2 ** 31)) {
      throw new RangeError(
        `BullMQExecutor: watchdogIntervalMs must be > 0 (and < 2^31), got ${options.watchdogIntervalMs}`,
      );
    }
    this.options = options;
    this.maxInlineBytes = max;
    this.ownsQueue = options.queue === undefined;
    this.queue =
      options.queue ??
      new Queue(options.queueName ?? DEFAULT_QUEUE_NAME, {
        connection: options.connection!,
        ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      });
    this.ready = this.listen();
    this.ready.catch(() => {});
    if (lostAfterMs !== false) {
      this.watchdog = new WorkerWatchdog(
        this.queue,
        {
          inFlight: () => [
            ...[...this.waiters].filter(([, w]) => w.added).map(([id]) => id),
            ...this.abandoned.keys(),
          ],
          crashReason: (jobId, lostForMs) => {
            const waiter = this.waiters.get(jobId) ?? this.abandoned.get(jobId);
            if (!waiter) return undefined;
            waiter.crashReason = `The BullMQ worker running ${waiter.name} (job ${jobId} on queue "${this.queue.name}") died before finishing: no worker has been connected to the queue for ${lostForMs} ms and the job's lock expired. The job was failed in Redis, so no worker runs it again.`;
            return waiter.crashReason;
          },
          crashed: (jobId, reason) => {
            this.ended(jobId, { ended: true });
            this.settle(jobId)?.reject(new WorkerCrashedError(reason));
          },
        },
        { lostAfterMs, intervalMs },
      );
    }
  }

  private async listen(): Promise<void> {
    const client = (await this.queue.client) as unknown as {
      xrevrange(
        key: string,
        end: string,
        start: string,
        count: 'COUNT',
        n: number,
      ): Promise<[string, string[]][]>;
    };
    // Start reading events from the newest one now: '$' would miss events written between
    // our first job and QueueEvents' first blocking read.
    const last = await client.xrevrange(this.queue.keys.events!, '+', '-', 'COUNT', 1);
    if (this.stopped) return;
    const events = new QueueEvents(this.queue.name, {
      connection: this.options.connection ?? this.queue.opts.connection,
      prefix: this.queue.opts.prefix,
      lastEventId: last[0]?.[0] ?? '0-0',
    });
    this.events = events;
    events.on('completed', ({ jobId, returnvalue }) => this.completed(jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => {
      this.failed(jobId, failedReason).catch(() => {});
    });
    await events.waitUntilReady();
  }

  private settle(jobId: string): Waiter | undefined {
    const waiter = this.waiters.get(jobId);
    if (!waiter) return undefined;
    this.waiters.delete(jobId);
    clearTimeout(waiter.timer);
    return waiter;
  }

  /** A timed-out job has really ended (or is no longer watched): tell whoever waits for that. */
  private ended(jobId: string, outcome: LateOutcome): void {
    const abandoned = this.abandoned.get(jobId);
    if (!abandoned) return;
    this.abandoned.delete(jobId);
    abandoned.end(outcome);
  }

  private completed(jobId: string, returnvalue: unknown): void {
    const waiter = this.settle(jobId);
    if (!waiter && !this.abandoned.has(jobId)) return;
    let value: unknown;
    try {
      const ret = (
        typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue
      ) as JobReturn;
      value = decodeResult(Buffer.from(ret.value, 'base64'));
    } catch (error) {
      waiter?.reject(error as Error);
      this.ended(jobId, { ended: true });
      return;
    }
    waiter?.resolve(value);
    // A late result nobody reads: handed to the timed-out task's StoreExecutor to release.
    this.ended(jobId, { ended: true, value });
  }

  private async failed(jobId: string, failedReason: string): Promise<void> {
    this.ended(jobId, { ended: true });
    const crashReason = this.waiters.get(jobId)?.crashReason;
    if (crashReason !== undefined && failedReason === crashReason) {
      // The watchdog failed it; this event may arrive before its own call returns.
      this.settle(jobId)?.reject(new WorkerCrashedError(crashReason));
      return;
    }
    if (!this.waiters.has(jobId)) return;
    const job = await Job.fromId(this.queue, jobId).catch(() => undefined);
    // It may have timed out meanwhile, and be watched now: it has ended all the same.
    this.ended(jobId, { ended: true });
    const waiter = this.settle(jobId);
    if (!waiter) return;
    if (STALLED.test(failedReason)) {
      waiter.reject(
        new WorkerCrashedError(
          `The BullMQ worker running ${waiter.name} (job ${jobId} on queue "${this.queue.name}") died before finishing: ${failedReason}`,
        ),
      );
      return;
    }
    const data = (job?.data as Partial<JobPayload> | undefined)?.error;
    if (data && typeof data.name === 'string' && typeof data.message === 'string') {
      waiter.reject(errorFromData(data));
      return;
    }
    // The job is gone (removeOnFail) or the worker could not record the error: BullMQ's record.
    const stack = job?.stacktrace?.at(-1) ?? undefined;
    const error = new Error(failedReason);
    // BullMQ keeps the message and the stack; the error's name is the stack's first word.
    const name = stack?.match(/^([A-Za-z_$][\w$]*):/)?.[1];
    if (name && name !== 'Error')
      Object.defineProperty(error, 'name', { value: name, configurable: true, writable: true });
    if (stack) error.stack = stack;
    waiter.reject(error);
  }

  async execute<R = unknown>(request: TaskRequest): Promise<R> {
    if (!this.accepting)
      throw new ExecutorShutdownError(
        'BullMQExecutor is shut down; create a new one to run more tasks.',
      );
    const call = toCall(request, this.maxInlineBytes);
    if (call.args.byteLength > this.maxInlineBytes) {
      throw new PayloadTooLargeError(
        `Task ${call.export} (${call.module}): its arguments serialize to ${call.args.byteLength} bytes, more than maxInlineBytes=${this.maxInlineBytes} that BullMQExecutor writes into a Redis job. Proxy large arguments (a StoreExecutor does it for you) instead of sending them by value.`,
      );
    }
    const jobId = randomUUID();
    const name = `${call.export} (${call.module})`;
    const waiter: Waiter = {
      resolve: () => {},
      reject: () => {},
      timer: undefined,
      name,
      added: false,
    };
    const settled = new Promise<R>((resolve, reject) => {
      waiter.resolve = resolve as (value: unknown) => void;
      waiter.reject = reject;
    });
    if (this.options.timeoutMs !== undefined) {
      // Started before connecting: timeoutMs bounds the whole task, Redis being unreachable included.
      waiter.timer = setTimeout(() => {
        this.timedOut(jobId, waiter).catch(() => {});
      }, this.options.timeoutMs);
    }
    // Registered before the job exists, so its completion cannot be missed.
    this.waiters.set(jobId, waiter);
    try {
      // Also wakes when the task is settled meanwhile (timed out, cancelled by shutdown).
      await Promise.race([this.ready, settled.then(noop, noop)]);
      if (!this.waiters.has(jobId)) return await settled;
      const payload: JobPayload = {
        v: 1,
        module: call.module,
        export: call.export,
        args: Buffer.from(call.args.buffer, call.args.byteOffset, call.args.byteLength).toString(
          'base64',
        ),
        ...(call.result ? { result: call.result } : {}),
        maxResultBytes: this.maxInlineBytes,
      };
      waiter.added = true;
      waiter.adding = this.queue.add(call.export, payload, {
        removeOnComplete: true,
        removeOnFail: { age: 24 * 3600 },
        ...this.options.jobOptions,
        jobId,
      });
      await waiter.adding;
      this.watchdog?.watch();
    } catch (error) {
      this.settle(jobId);
      throw error;
    }
    return settled;
  }

  /**
   * `timeoutMs` has passed. A job no worker has taken is removed from Redis, so it never runs;
   * one that is running (or that could not be removed) is watched until it ends, and the
   * caller's error says so (a StoreExecutor keeps its inputs until then).
   */
  private async timedOut(jobId: string, waiter: Waiter): Promise<void> {
    const ms = this.options.timeoutMs;
    if (!waiter.added) {
      this.settle(jobId)?.reject(
        new TaskTimeoutError(
          `Task ${waiter.name} could not be queued within ${ms} ms: Redis did not answer. Is it running and reachable?`,
        ),
      );
      return;
    }
    // Still registered meanwhile: a result or failure arriving now settles the task as usual.
    let bound: NodeJS.Timeout | undefined;
    const withdrawing = this.withdraw(jobId, waiter).catch(() => 'unknown' as const);
    const fate = await Promise.race([
      withdrawing,
      new Promise<'unknown'>((resolve) => {
        bound = setTimeout(() => resolve('unknown'), WITHDRAW_MS);
      }),
    ]).finally(() => clearTimeout(bound));
    if (!this.waiters.has(jobId)) return;
    const head = `Task ${waiter.name} (job ${jobId} on queue "${this.queue.name}") did not finish within ${ms} ms`;
    if (fate === 'removed') {
      this.settle(jobId)?.reject(
        new TaskTimeoutError(
          `${head}: no worker had taken it, and its job was removed from the queue, so it will not run. Is a worker running on queue "${this.queue.name}"?`,
        ),
      );
      return;
    }
    const error = new TaskTimeoutError(
      fate === 'running'
        ? `${head}: a worker is running it and it could not be withdrawn, so it may still run to the end; its result will be discarded.`
        : `${head}: its job could not be removed from the queue (Redis did not answer), so it may still run; its result will be discarded.`,
    );
    const late = new Promise<LateOutcome>((end) => {
      this.abandoned.set(jobId, { name: waiter.name, end });
    });
    markStillRunning(error, late);
    this.settle(jobId)?.reject(error);
    this.watchdog?.watch();
    // Removed after all, once Redis answered: it will never run.
    withdrawing.then((f) => f === 'removed' && this.ended(jobId, { ended: true }));
  }

  /** Removes a job no worker has taken: 'removed', or 'running' when a worker has it. */
  private async withdraw(jobId: string, waiter: Waiter): Promise<'removed' | 'running'> {
    try {
      await waiter.adding;
    } catch {
      return 'removed'; // never queued
    }
    const job = await Job.fromId(this.queue, jobId);
    // Gone already: it ended just now, and its event is on the way.
    if (!job) return 'running';
    const state = await job.getState();
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized') {
      try {
        await job.remove();
        return 'removed';
      } catch {
        return 'running'; // a worker took it meanwhile (remove refuses a locked job)
      }
    }
    return 'running';
  }

  submit<F extends AnyFunction>(task: Task<F>, ...args: Parameters<F>): Promise<TaskResult<F>> {
    return this.execute<TaskResult<F>>({ task, args });
  }

  /** Jobs submitted here that have not settled. */
  get pendingCount(): number {
    return this.waiters.size;
  }

  private cancelled(jobId: string): void {
    this.settle(jobId)?.reject(
      new TaskCancelledError(
        `BullMQExecutor shut down with cancelPending before job ${jobId} started.`,
      ),
    );
  }

  private async cancelWaiting(): Promise<void> {
    await Promise.all(
      [...this.waiters.entries()].map(async ([jobId, waiter]) => {
        // Not in Redis yet (still connecting): nothing to remove there.
        if (!waiter.added) return this.cancelled(jobId);
        const job = await Job.fromId(this.queue, jobId);
        if (!job) return;
        const state = await job.getState();
        if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return;
        try {
          await job.remove();
        } catch {
          return; // a worker took it meanwhile: it runs to completion
        }
        this.cancelled(jobId);
      }),
    );
  }

  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.accepting = false;
    this.stopped = true;
    const cancelling = options.cancelPending ? this.cancelWaiting() : Promise.resolve();
    this.closing ??= (async () => {
      await cancelling.catch(() => {});
      const pending = [...this.waiters.values()].map(
        (w) =>
          new Promise<void>((resolve) => {
            const { resolve: res, reject: rej } = w;
            w.resolve = (v) => {
              res(v);
              resolve();
            };
            w.reject = (e) => {
              rej(e);
              resolve();
            };
          }),
      );
      await Promise.all(pending);
      // Timed-out jobs still running: watched for at most `timeoutMs` more, then let go.
      if (this.abandoned.size > 0) {
        const watching = [...this.abandoned.keys()].map(
          (jobId) =>
            new Promise<void>((resolve) => {
              const entry = this.abandoned.get(jobId)!;
              const { end } = entry;
              entry.end = (outcome) => {
                end(outcome);
                resolve();
              };
            }),
        );
        let bound: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(watching),
          new Promise<void>((resolve) => {
            bound = setTimeout(resolve, this.options.timeoutMs ?? 0);
          }),
        ]).finally(() => clearTimeout(bound));
        for (const jobId of [...this.abandoned.keys()]) this.ended(jobId, { ended: false });
      }
      // Only now: until every task has settled, the watchdog may still be needed to settle one.
      await this.watchdog?.stop();
      // Not `await this.ready`: with Redis unreachable it never settles. A `listen` still
      // connecting sees `stopped` and opens nothing; its queue connection closes below.
      await this.events?.close();
      if (this.ownsQueue) await this.queue.close();
    })();
    await cancelling;
    if (options.wait ?? true) await this.closing;
    else this.closing.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
