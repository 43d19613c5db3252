export { FutureAlreadySetError } from './errors.js';
export type {
  FromJSONOptions,
  FutureOptions,
  FutureProxyOptions,
  ResultOptions,
} from './future.js';
export { FUTURE_TAG, Future } from './future.js';
export type { FutureData } from './future-factory.js';
export { FUTURE_FACTORY_TYPE, FutureFactory } from './future-factory.js';
export { DEFAULT_POLLING, type Polling, type PollingOptions } from './polling.js';
