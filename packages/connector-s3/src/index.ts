export { S3Connector } from './s3-connector.js';
export type {
  S3ChecksumMode,
  S3ConnectorOptions,
  S3StaticCredentials,
} from './s3-connector-options.js';
export type { S3Key } from './s3-key.js';
