import { describeWithService } from '@proxy/connector-test-suite';
import { ConnectorError } from '@proxy/core';
import { S3Connector } from './s3-connector.js';
import { bytes, rejection } from './test-helpers.js';
import {
  S3RVER_HINT,
  type S3TestServer,
  s3rverAvailable,
  startS3Server,
} from './test-s3-server.js';

describeWithService(
  's3rver',
  s3rverAvailable,
  S3RVER_HINT,
  'S3Connector when the server goes away',
  () => {
    let server: S3TestServer;

    beforeEach(async () => {
      server = await startS3Server();
    });

    afterEach(async () => {
      await server.stop();
    });

    test('a frozen server: every operation fails with a ConnectorError naming endpoint and bucket within requestTimeoutMs', async () => {
      const connector = new S3Connector(server.options({ requestTimeoutMs: 800 }));
      const key = await connector.put(bytes(100, 1));
      server.pause();
      try {
        for (const op of [
          () => connector.get(key),
          () => connector.put(bytes(100, 2)),
          () => connector.exists(key),
        ]) {
          const started = Date.now();
          const error = await rejection(op());
          const elapsed = Date.now() - started;
          expect(error).toBeInstanceOf(ConnectorError);
          expect(error.message).toMatch(/got no answer within 80\d ms/);
          expect(error.message).toContain(server.endpoint);
          expect(error.message).toContain(server.bucket);
          expect(elapsed).toBeGreaterThanOrEqual(750);
          expect(elapsed).toBeLessThan(2500);
        }
      } finally {
        server.resume();
        await connector.close();
      }
    });

    test('a stopped server: a ConnectorError naming endpoint and bucket, quickly, after the configured attempts', async () => {
      const connector = new S3Connector(server.options({ requestTimeoutMs: 2000, maxAttempts: 2 }));
      const key = await connector.put(bytes(100, 1));
      await server.stop();
      const started = Date.now();
      const error = await rejection(connector.get(key));
      expect(error).toBeInstanceOf(ConnectorError);
      expect(error.message).toContain(`cannot reach ${server.endpoint}`);
      expect(error.message).toContain(`s3://${server.bucket}/${key.objectKey}`);
      expect(error.message).toContain('after 2 attempt(s)');
      expect(Date.now() - started).toBeLessThan(2000);
      await connector.close();
    });
  },
);
