import { describeWithService, runConnectorConformance } from '@proxy/connector-test-suite';
import { stopSyncBridge } from '@proxy/core';
import { S3Connector } from './s3-connector.js';
import {
  S3RVER_HINT,
  type S3TestServer,
  s3rverAvailable,
  startS3Server,
} from './test-s3-server.js';

// Each server has its own directory, so a fixed bucket name is safe (and known when the
// suite's foreign keys are built).
const BUCKET = 'proxy-conformance';

describeWithService('s3rver', s3rverAvailable, S3RVER_HINT, 'S3Connector against s3rver', () => {
  let server: S3TestServer;

  beforeAll(async () => {
    server = await startS3Server({ buckets: [BUCKET], folders: ['conformance/'] });
  });

  afterAll(async () => {
    await stopSyncBridge();
    await server?.stop();
  });

  runConnectorConformance({
    name: 'S3Connector',
    // Lower threshold so the suite's large value also goes through a multipart upload.
    create: () =>
      new S3Connector(
        server.options({ prefix: 'conformance', multipartThresholdBytes: 16 * 1024 * 1024 }),
      ),
    foreignKeys: [
      { bucket: 'another-bucket', objectKey: 'conformance/0b9c3d7e-1f2a-4b5c-8d9e-0f1a2b3c4d5e' },
      { bucket: BUCKET, objectKey: 'elsewhere/0b9c3d7e-1f2a-4b5c-8d9e-0f1a2b3c4d5e' },
      { bucket: BUCKET, objectKey: 'conformance/../secret' },
      { bucket: BUCKET, objectKey: 'conformance/not-a-uuid' },
    ],
  });
});
