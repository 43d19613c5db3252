import os from 'node:os';
import { Piscina } from 'piscina';
import type { Outcome, RemoteErrorData, TaskCall } from './call.js';
import { entryPath } from './entry-path.js';
import { TaskTimeoutError, WorkerCrashedError } from './errors.js';
import { PooledExecutor } from './pooled-executor.js';

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

type PiscinaOptions = NonNullable<ConstructorParameters<typeof Piscina>[0]>;

export interface WorkerPoolExecutorOptions {
  /** Worker threads at most. Default: the number of CPUs. */
  maxThreads?: number;
  /** Threads kept alive when idle. Default 0 (threads start on demand). */
  minThreads?: number;
  /**
   * How long an idle thread lives (keeps its loaded modules and store cache for the next
   * task). Default 30 s; Piscina's own default, 0, would restart a thread for every task.
   */
  idleTimeoutMs?: number;
  /** A task running longer than this is aborted (its thread is terminated). Default: no limit. */
  timeoutMs?: number;
  /** The built worker entry; located from the application by default. */
  entry?: string;
  /** Anything else Piscina accepts (resourceLimits, env, execArgv, …). */
  piscina?: Omit<PiscinaOptions, 'filename' | 'maxThreads' | 'minThreads' | 'idleTimeout'>;
}

/** Outcome as the worker thread sends it: the result bytes alone (transferred), or the error. */
export type WireOutcome = Uint8Array | { error: RemoteErrorData };

/** Runs task references in worker threads (Piscina). Arguments and results move without copies. */
export class WorkerPoolExecutor extends PooledExecutor {
  readonly pool: Piscina<TaskCall, WireOutcome>;
  private readonly timeoutMs: number | undefined;

  constructor(options: WorkerPoolExecutorOptions = {}) {
    const maxThreads = options.maxThreads ?? os.availableParallelism();
    super(maxThreads, 'WorkerPoolExecutor');
    if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) {
      throw new RangeError(`WorkerPoolExecutor: timeoutMs must be > 0, got ${options.timeoutMs}`);
    }
    this.timeoutMs = options.timeoutMs;
    this.pool = new Piscina<TaskCall, WireOutcome>({
      ...options.piscina,
      filename: entryPath('worker-entry', options.entry),
      maxThreads,
      minThreads: Math.min(options.minThreads ?? 0, maxThreads),
      idleTimeout: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      concurrentTasksPerWorker: 1,
    });
  }

  protected async dispatch(call: TaskCall): Promise<Outcome> {
    const args = call.args;
    // Transfer the argument bytes when they own their memory (serialize() output does).
    const transferList =
      args.byteOffset === 0 && args.byteLength === args.buffer.byteLength
        ? [args.buffer as ArrayBuffer]
        : [];
    const signal = this.timeoutMs !== undefined ? AbortSignal.timeout(this.timeoutMs) : undefined;
    let wire: WireOutcome;
    try {
      wire = await this.pool.run(call, { transferList, signal });
    } catch (error) {
      if (signal?.aborted) {
        throw new TaskTimeoutError(
          `Task ${call.export} (${call.module}) ran longer than ${this.timeoutMs} ms; its worker thread was terminated.`,
          {
            cause: error,
          },
        );
      }
      throw new WorkerCrashedError(
        `The worker thread running ${call.export} (${call.module}) died before answering: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return wire instanceof Uint8Array
      ? { ok: true, value: wire }
      : { ok: false, error: wire.error };
  }

  protected async closePool(): Promise<void> {
    await this.pool.destroy();
  }
}
