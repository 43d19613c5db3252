import type { TaskRequest } from './call.js';
import type { AnyFunction, Task } from './task.js';

export interface ShutdownOptions {
  /** Wait until running (and, unless cancelled, pending) tasks finish and resources close. Default true. */
  wait?: boolean;
  /** Reject tasks that have not started with `TaskCancelledError`. Default false. */
  cancelPending?: boolean;
}

/** What a task resolves to: its return value, awaited. */
export type TaskResult<F extends AnyFunction> = Awaited<ReturnType<F>>;

/** Something that runs tasks: in this process, in worker threads, in child processes or on a queue. */
export interface Executor {
  /** Tasks run in this process: plain functions are allowed and proxies pass as they are. */
  readonly inProcess: boolean;
  /**
   * The largest serialized argument list this executor carries by value (BullMQ job data);
   * a StoreExecutor proxies arguments to stay under it. Undefined: no limit.
   */
  readonly maxInlineBytes?: number;
  execute<R = unknown>(request: TaskRequest): Promise<R>;
  submit<F extends AnyFunction>(task: Task<F>, ...args: Parameters<F>): Promise<TaskResult<F>>;
  shutdown(options?: ShutdownOptions): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
