import type { TaskRequest } from './call.js';
import { Dispatcher } from './dispatcher.js';
import type { Executor, ShutdownOptions, TaskResult } from './executor.js';
import { loadTask } from './load-task.js';
import { type AnyFunction, isTaskRef, type Task } from './task.js';

export interface InlineExecutorOptions {
  /** Tasks running at once; the rest wait in order. Default: unbounded. */
  concurrency?: number;
}

/**
 * Runs tasks in this process (tests, small jobs). Accepts plain functions as well as task
 * references; arguments, proxies included, are passed as they are, without serialization.
 */
export class InlineExecutor implements Executor {
  readonly inProcess = true;
  readonly maxInlineBytes = undefined;
  private readonly dispatcher: Dispatcher;
  private closing: Promise<void> | undefined;

  constructor(options: InlineExecutorOptions = {}) {
    this.dispatcher = new Dispatcher(
      options.concurrency ?? Number.POSITIVE_INFINITY,
      'InlineExecutor',
    );
  }

  execute<R = unknown>(request: TaskRequest): Promise<R> {
    return this.dispatcher.run(async () => {
      const fn = isTaskRef(request.task)
        ? await loadTask(request.task.module, request.task.export)
        : request.task;
      return (await fn(...request.args)) as R;
    });
  }

  submit<F extends AnyFunction>(task: Task<F>, ...args: Parameters<F>): Promise<TaskResult<F>> {
    return this.execute<TaskResult<F>>({ task, args });
  }

  get pendingCount(): number {
    return this.dispatcher.pending;
  }

  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.dispatcher.close(options.cancelPending ?? false);
    this.closing ??= this.dispatcher.drained();
    if (options.wait ?? true) await this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
