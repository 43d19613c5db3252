import { fromOutcome, type Outcome, type TaskCall, type TaskRequest, toCall } from './call.js';
import { Dispatcher } from './dispatcher.js';
import type { Executor, ShutdownOptions, TaskResult } from './executor.js';
import type { AnyFunction, Task } from './task.js';

/** Shared by executors that run tasks elsewhere: our own queue, then `dispatch` to a worker. */
export abstract class PooledExecutor implements Executor {
  readonly inProcess = false;
  readonly maxInlineBytes?: number;
  protected readonly dispatcher: Dispatcher;
  private closing: Promise<void> | undefined;

  protected constructor(concurrency: number, name: string) {
    this.dispatcher = new Dispatcher(concurrency, name);
  }

  /** Sends one call to a free worker (there is one: the dispatcher bounds concurrency). */
  protected abstract dispatch(call: TaskCall): Promise<Outcome>;

  /** Releases workers once nothing runs. */
  protected abstract closePool(): Promise<void>;

  /** Tasks queued here and not started yet. */
  get pendingCount(): number {
    return this.dispatcher.pending;
  }

  async execute<R = unknown>(request: TaskRequest): Promise<R> {
    const call = toCall(request, this.maxInlineBytes);
    return fromOutcome<R>(await this.dispatcher.run(() => this.dispatch(call)));
  }

  submit<F extends AnyFunction>(task: Task<F>, ...args: Parameters<F>): Promise<TaskResult<F>> {
    return this.execute<TaskResult<F>>({ task, args });
  }

  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.dispatcher.close(options.cancelPending ?? false);
    this.closing ??= this.dispatcher.drained().then(() => this.closePool());
    if (options.wait ?? true) await this.closing;
    else this.closing.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
