import type { S3Client } from '@aws-sdk/client-s3';
import { describeWithService } from '@proxy/connector-test-suite';
import { ConnectorError } from '@proxy/core';
import { S3Connector } from './s3-connector.js';
import { bytes, MiB, rejection } from './test-helpers.js';
import {
  rawClient,
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

    /** The rejection of `promise`, or a test failure once `ms` have passed without one. */
    async function rejectionWithin(promise: Promise<unknown>, ms: number): Promise<Error> {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
      });
      try {
        return await Promise.race([rejection(promise), late]);
      } finally {
        clearTimeout(timer);
      }
    }

    /** Records the commands a client sends; freezes the server before the first UploadPart. */
    function freezeAtFirstPart(client: S3Client): string[] {
      const sent: string[] = [];
      client.middlewareStack.add(
        (next, context) => async (args) => {
          sent.push(context.commandName ?? '');
          if (
            context.commandName === 'UploadPartCommand' &&
            sent.indexOf('UploadPartCommand') === sent.length - 1
          )
            server.pause();
          return next(args);
        },
        { step: 'initialize', name: 'freezeAtFirstPart' },
      );
      return sent;
    }

    const multipart = {
      requestTimeoutMs: 800,
      multipartThresholdBytes: 6 * MiB,
      partSizeBytes: 5 * MiB,
    };

    const injectedClient = () => rawClient(server);

    test('a frozen server before a multipart put: CreateMultipartUpload fails within requestTimeoutMs, own client and injected', async () => {
      for (const client of [undefined, injectedClient()]) {
        const connector = new S3Connector(server.options({ ...multipart, client }));
        await connector.put(bytes(10, 1));
        server.pause();
        try {
          const started = Date.now();
          const error = await rejectionWithin(connector.put(bytes(12 * MiB, 2)), 10_000);
          const elapsed = Date.now() - started;
          expect(error).toBeInstanceOf(ConnectorError);
          expect(error.message).toMatch(/CreateMultipartUpload .* got no answer within 800 ms/);
          expect(error.message).toContain(server.endpoint);
          expect(elapsed).toBeGreaterThanOrEqual(750);
          expect(elapsed).toBeLessThan(2500);
        } finally {
          server.resume();
          await connector.close();
          client?.destroy();
        }
      }
    });

    test('a server frozen during the parts: every part has the per-request deadline, then the upload is aborted (injected client)', async () => {
      const client = injectedClient();
      const sent = freezeAtFirstPart(client);
      const connector = new S3Connector(server.options({ ...multipart, client }));
      try {
        const started = Date.now();
        // Parts of 5 MiB, 5 MiB and 2 MiB: deadlines 800 ms + 1 s per MiB (5.8 s at most).
        const error = await rejectionWithin(connector.put(bytes(12 * MiB, 3)), 15_000);
        const elapsed = Date.now() - started;
        expect(error).toBeInstanceOf(ConnectorError);
        expect(error.message).toMatch(/UploadPart \d\/3 .* got no answer within \d+ ms/);
        expect(error.message).toContain(server.endpoint);
        expect(error.message).toContain(server.bucket);
        // The abort was attempted (it too hits the frozen server, under its own deadline).
        expect(sent).toContain('AbortMultipartUploadCommand');
        expect(error.message).toMatch(
          /Aborting multipart upload \S+ failed too .*got no answer within 800 ms/,
        );
        expect(elapsed).toBeGreaterThanOrEqual(2700);
        expect(elapsed).toBeLessThan(5800 + 800 + 1500);
      } finally {
        server.resume();
        await connector.close();
        client.destroy();
      }
    });

    test('close() during a multipart upload to a frozen server cuts it off and the upload is aborted', async () => {
      for (const injected of [false, true]) {
        const client = injected ? injectedClient() : undefined;
        const connector = new S3Connector(
          server.options({ ...multipart, requestTimeoutMs: 20_000, client }),
        );
        const sent = freezeAtFirstPart(connector.client);
        try {
          const putting = connector.put(bytes(12 * MiB, 4));
          const caught = rejectionWithin(putting, 10_000);
          while (!sent.includes('UploadPartCommand')) await new Promise((r) => setTimeout(r, 20));
          await new Promise((r) => setTimeout(r, 200));
          const started = Date.now();
          await connector.close();
          const error = await caught;
          expect(error).toBeInstanceOf(ConnectorError);
          expect(error.message).toMatch(/was closed while UploadPart \d\/3 /);
          expect(sent).toContain('AbortMultipartUploadCommand');
          expect(error.message).toMatch(
            /AbortMultipartUpload \S+ was sent as the connector closed/,
          );
          // Neither the parts' deadlines (25 s) nor the abort's (20 s) are waited for.
          expect(Date.now() - started).toBeLessThan(1500);
        } finally {
          server.resume();
          client?.destroy();
        }
      }
    }, 60_000);
  },
);
