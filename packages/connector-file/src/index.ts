export {
  type ClearMode,
  type FileCloseOptions,
  FileConnector,
  type FileConnectorOptions,
} from './file-connector.js';
export { type FileKey, READY_SUFFIX, TEMP_PREFIX } from './file-key.js';
