import { ProxyStoreError } from '@proxy/core';

// Each class extends core's branded base, so `ProxyStoreError.is(e)` and `Xxx.is(e)` hold
// across copies of the packages.

/** `submit`/`map` on an executor that is shutting down or shut down. */
export class ExecutorShutdownError extends ProxyStoreError {
  override readonly code = 'PROXY_EXECUTOR_SHUTDOWN';
  static override is(error: unknown): error is ExecutorShutdownError {
    return ProxyStoreError.is(error) && error.code === 'PROXY_EXECUTOR_SHUTDOWN';
  }
}

/** A task that had not started when `shutdown({ cancelPending: true })` ran. */
export class TaskCancelledError extends ProxyStoreError {
  override readonly code = 'PROXY_TASK_CANCELLED';
  static override is(error: unknown): error is TaskCancelledError {
    return ProxyStoreError.is(error) && error.code === 'PROXY_TASK_CANCELLED';
  }
}

/** The worker thread, child process or BullMQ worker running a task died before answering. */
export class WorkerCrashedError extends ProxyStoreError {
  override readonly code = 'PROXY_WORKER_CRASHED';
  static override is(error: unknown): error is WorkerCrashedError {
    return ProxyStoreError.is(error) && error.code === 'PROXY_WORKER_CRASHED';
  }
}

/** A task did not settle within the executor's `timeoutMs`. */
export class TaskTimeoutError extends ProxyStoreError {
  override readonly code = 'PROXY_TASK_TIMEOUT';
  static override is(error: unknown): error is TaskTimeoutError {
    return ProxyStoreError.is(error) && error.code === 'PROXY_TASK_TIMEOUT';
  }
}

/** Arguments or a result too large to travel by value through this executor (BullMQ job data). */
export class PayloadTooLargeError extends ProxyStoreError {
  override readonly code = 'PROXY_PAYLOAD_TOO_LARGE';
  static override is(error: unknown): error is PayloadTooLargeError {
    return ProxyStoreError.is(error) && error.code === 'PROXY_PAYLOAD_TOO_LARGE';
  }
}

/** A task reference whose module or export cannot be loaded where the task runs. */
export class TaskNotFoundError extends ProxyStoreError {
  override readonly code = 'PROXY_TASK_NOT_FOUND';
  static override is(error: unknown): error is TaskNotFoundError {
    return ProxyStoreError.is(error) && error.code === 'PROXY_TASK_NOT_FOUND';
  }
}
