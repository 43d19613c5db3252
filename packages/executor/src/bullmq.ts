export {
  BullMQExecutor,
  type BullMQExecutorOptions,
  DEFAULT_WORKER_LOST_MS,
} from './bullmq-executor.js';
export {
  connectionFromUrl,
  DEFAULT_MAX_INLINE_BYTES,
  DEFAULT_QUEUE_NAME,
  type JobPayload,
  type JobReturn,
} from './bullmq-payload.js';
export { processJob, type StartWorkerOptions, startWorker } from './bullmq-worker.js';
