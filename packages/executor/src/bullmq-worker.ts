import { errorFromData } from '@proxy/core';
import { type ConnectionOptions, type Job, Worker, type WorkerOptions } from 'bullmq';
import {
  DEFAULT_MAX_INLINE_BYTES,
  DEFAULT_QUEUE_NAME,
  type JobPayload,
  type JobReturn,
} from './bullmq-payload.js';
import type { TaskCall } from './call.js';
import { runTask } from './run-task.js';

export interface StartWorkerOptions {
  /** Must match the executor's. Default 'proxy-executor'. */
  queueName?: string;
  /** Redis connection (ioredis options or an ioredis instance). */
  connection: ConnectionOptions;
  /** BullMQ key prefix; must match the executor's. Default BullMQ's ('bull'). */
  prefix?: string;
  /** Jobs this worker runs at once. Default 1. */
  concurrency?: number;
  /** Anything else BullMQ's Worker accepts (lockDuration, stalledInterval, limiter, …). */
  workerOptions?: Omit<WorkerOptions, 'connection' | 'prefix' | 'concurrency'>;
}

function toCall(data: JobPayload): TaskCall {
  if (
    data?.v !== 1 ||
    typeof data.module !== 'string' ||
    typeof data.export !== 'string' ||
    typeof data.args !== 'string'
  ) {
    throw new TypeError(
      'Job data is not a @proxy/executor task (expected { v: 1, module, export, args }); is another producer using this queue?',
    );
  }
  return {
    module: data.module,
    export: data.export,
    args: Buffer.from(data.args, 'base64'),
    ...(data.result ? { result: data.result } : {}),
    maxResultBytes: data.maxResultBytes ?? DEFAULT_MAX_INLINE_BYTES,
  };
}

/** Runs one job: the processor BullMQ calls. A task's error fails the job with that error. */
export async function processJob(job: Job<JobPayload, JobReturn>): Promise<JobReturn> {
  const outcome = await runTask(toCall(job.data));
  if (!outcome.ok) {
    // The executor rebuilds the error from this; when the write fails (Redis going away) it
    // still has BullMQ's failedReason and stack, so the task's own error is thrown regardless.
    await job.updateData({ ...job.data, error: outcome.error }).catch(() => undefined);
    // Thrown (not returned) so BullMQ records a failed job, with the task's message and stack.
    throw errorFromData(outcome.error);
  }
  return { value: Buffer.from(outcome.value).toString('base64') };
}

/**
 * Starts a BullMQ worker that runs @proxy/executor tasks, in this process. Run it in as many
 * processes on as many machines as you like: each needs Redis, the task modules, and the
 * connector packages of the stores its proxies name. Close it with `await worker.close()`.
 */
export function startWorker(options: StartWorkerOptions): Worker<JobPayload, JobReturn> {
  if (!options?.connection)
    throw new TypeError('startWorker: options.connection (Redis) is required');
  return new Worker<JobPayload, JobReturn>(options.queueName ?? DEFAULT_QUEUE_NAME, processJob, {
    ...options.workerOptions,
    connection: options.connection,
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    concurrency: options.concurrency ?? 1,
  });
}
