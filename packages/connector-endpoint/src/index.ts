export type { HomeEndpoint } from './discovery.js';
export {
  DEFAULT_MAX_OBJECT_SIZE,
  type EndpointConfig,
  EndpointConfigError,
  listConfigs,
  newConfig,
  parseSize,
  readConfig,
  type StorageKind,
  writeConfig,
} from './endpoint-config.js';
export {
  BatchRollbackError,
  EndpointConnector,
  type EndpointConnectorOptions,
} from './endpoint-connector.js';
export { assertEndpointKey, type EndpointKey, isObjectId } from './endpoint-key.js';
export { EndpointServer, type EndpointServerOptions } from './endpoint-server.js';
export { FileStorage } from './file-storage.js';
export { endpointPaths, proxyHome } from './home.js';
export { MemoryStorage } from './memory-storage.js';
export {
  type EndpointStatus,
  endpointStatus,
  runningPid,
  stopEndpoint,
} from './process-control.js';
export { openStorage, runEndpoint } from './run-endpoint.js';
export type { EndpointStorage, StoredObject, WriteOptions } from './storage.js';
