export type { RemoteErrorData, ResultPolicy, TaskCall, TaskRequest } from './call.js';
export {
  ExecutorShutdownError,
  PayloadTooLargeError,
  TaskCancelledError,
  TaskNotFoundError,
  TaskTimeoutError,
  WorkerCrashedError,
} from './errors.js';
export type { Executor, ShutdownOptions, TaskResult } from './executor.js';
export { InlineExecutor, type InlineExecutorOptions } from './inline-executor.js';
export {
  type Ctor,
  estimateSize,
  isPortablePolicy,
  type PolicyData,
  type PortablePolicy,
  ProxyAlways,
  ProxyIfLargerThan,
  ProxyNever,
  ProxyType,
  policyFromData,
  type ShouldProxy,
} from './policy.js';
export { ProcessPoolExecutor, type ProcessPoolExecutorOptions } from './process-pool-executor.js';
export { runTask } from './run-task.js';
export { StoreExecutor, type StoreExecutorOptions } from './store-executor.js';
export { type AnyFunction, isTaskRef, type Task, type TaskRef, task } from './task.js';
export { WorkerPoolExecutor, type WorkerPoolExecutorOptions } from './worker-pool-executor.js';
