import { ExecutorShutdownError, TaskCancelledError } from './errors.js';

interface Pending {
  start: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * A FIFO of tasks with a bound on how many run at once. Keeping the queue on our side (not
 * in Piscina or a child) is what lets `shutdown({ cancelPending })` know which tasks have
 * not started.
 */
export class Dispatcher {
  private readonly queue: Pending[] = [];
  private running = 0;
  private accepting = true;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly capacity: number,
    private readonly owner: string,
  ) {
    if (!(capacity >= 1))
      throw new RangeError(`${owner}: concurrency must be >= 1, got ${capacity}`);
  }

  get pending(): number {
    return this.queue.length;
  }

  get active(): number {
    return this.running;
  }

  get isAccepting(): boolean {
    return this.accepting;
  }

  run<T>(start: () => Promise<T>): Promise<T> {
    if (!this.accepting) {
      return Promise.reject(
        new ExecutorShutdownError(
          `${this.owner} is shut down; create a new executor to run more tasks.`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ start, resolve: resolve as (value: unknown) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.capacity && this.queue.length > 0) {
      const task = this.queue.shift()!;
      this.running++;
      new Promise((resolve) => resolve(task.start()))
        .then(task.resolve, task.reject)
        .finally(() => {
          this.running--;
          this.pump();
          this.notifyIdle();
        });
    }
  }

  private notifyIdle(): void {
    if (this.running > 0 || this.queue.length > 0) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Stops accepting tasks; optionally rejects the ones not started. */
  close(cancelPending: boolean): void {
    this.accepting = false;
    if (!cancelPending) return;
    const cancelled = this.queue.splice(0);
    for (const task of cancelled) {
      task.reject(
        new TaskCancelledError(
          `${this.owner} shut down with cancelPending before this task started.`,
        ),
      );
    }
    this.notifyIdle();
  }

  /** Resolves once nothing is queued or running. */
  drained(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
