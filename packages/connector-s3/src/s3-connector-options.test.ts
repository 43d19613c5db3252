import { FutureTimeoutError } from '@proxy/core';
import { pollUntil } from './poll-until.js';
import { S3Connector } from './s3-connector.js';
import type { S3ConnectorOptions } from './s3-connector-options.js';
import { MiB } from './test-helpers.js';

describe('S3Connector options (no server)', () => {
  test.each<[string, Partial<S3ConnectorOptions>, RegExp]>([
    ['missing bucket name', { bucket: '' }, /bucket must be/],
    ['bucket with a slash', { bucket: 'a/b' }, /bucket must be/],
    ['absolute prefix', { prefix: '/abs' }, /prefix/],
    ['prefix escaping upwards', { prefix: 'a/../b' }, /prefix/],
    ['endpoint that is not a URL', { endpoint: 'localhost:9000' }, /endpoint must/],
    [
      'part size below the S3 minimum',
      { partSizeBytes: 1024 },
      /partSizeBytes must be an integer >= 5242880/,
    ],
    ['zero concurrency', { concurrency: 0 }, /concurrency/],
    ['fractional timeout', { requestTimeoutMs: 1.5 }, /requestTimeoutMs/],
    [
      'a timeout beyond what a Node timer can hold',
      { requestTimeoutMs: 2 ** 31 },
      /requestTimeoutMs must be at most 2147483647/,
    ],
    ['unknown checksum mode', { checksums: 'ALWAYS' as never }, /checksums/],
    [
      'credentials without a secret',
      { credentials: { accessKeyId: 'x' } as never },
      /credentials must be/,
    ],
  ])('%s is a TypeError naming the option', (_name, bad, message) => {
    expect(() => new S3Connector({ bucket: 'b', ...bad })).toThrow(message);
  });

  test('a prefix gets a trailing slash; keys are prefix + uuid in the bucket', async () => {
    const connector = new S3Connector({
      bucket: 'b',
      prefix: 'proxies',
      endpoint: 'http://127.0.0.1:1',
    });
    const key = await connector.newKey();
    expect(key.bucket).toBe('b');
    expect(key.objectKey).toMatch(/^proxies\/[0-9a-f-]{36}$/);
    await connector.close();
  });

  test('config is plain JSON with the defaults, without createBucket, and credentials only when passed as values', async () => {
    const withValues = new S3Connector({
      bucket: 'b',
      endpoint: 'http://127.0.0.1:1',
      createBucket: true,
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    });
    const config = withValues.config();
    expect(JSON.parse(JSON.stringify(config))).toEqual(config);
    expect(config).toEqual({
      module: '@proxy/connector-s3',
      type: 'S3Connector',
      options: {
        bucket: 'b',
        prefix: '',
        endpoint: 'http://127.0.0.1:1',
        region: 'us-east-1',
        forcePathStyle: true,
        multipartThresholdBytes: 100 * MiB,
        partSizeBytes: 8 * MiB,
        concurrency: 8,
        requestTimeoutMs: 30_000,
        maxAttempts: 3,
        checksums: 'WHEN_REQUIRED',
        credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
      },
    });
    const withProvider = new S3Connector({
      bucket: 'b',
      endpoint: 'http://127.0.0.1:1',
      credentials: async () => ({ accessKeyId: 'AK', secretAccessKey: 'SK' }),
    });
    expect(withProvider.config().options).not.toHaveProperty('credentials');
    expect(JSON.stringify(withProvider.config())).not.toContain('SK');
    await withValues.close();
    await withProvider.close();
  });

  test('the client it builds for an S3-compatible endpoint sends no streaming checksums', async () => {
    const connector = new S3Connector({ bucket: 'b', endpoint: 'http://127.0.0.1:1' });
    expect(await connector.client.config.requestChecksumCalculation()).toBe('WHEN_REQUIRED');
    expect(await connector.client.config.responseChecksumValidation()).toBe('WHEN_REQUIRED');
    expect(connector.client.config.forcePathStyle).toBe(true);
    await connector.close();
  });

  test('requestTimeoutMs up to 2^31-1 ms is accepted', async () => {
    const connector = new S3Connector({
      bucket: 'b',
      endpoint: 'http://127.0.0.1:1',
      requestTimeoutMs: 2 ** 31 - 1,
    });
    expect(connector.config().options.requestTimeoutMs).toBe(2 ** 31 - 1);
    await connector.close();
  });

  test('waitFor: a negative, NaN or non-number timeoutMs is a TypeError before any request', async () => {
    const connector = new S3Connector({ bucket: 'b', endpoint: 'http://127.0.0.1:1' });
    const key = await connector.newKey();
    for (const timeoutMs of [-1, Number.NaN, '100' as unknown as number]) {
      const error = await connector.waitFor(key, { timeoutMs }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toContain('timeoutMs');
    }
    await connector.close();
  });

  test('pollUntil: a timeout above 2^31-1 ms neither fires at 1 ms nor is lost (chained timers)', async () => {
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'queueMicrotask'],
    });
    try {
      let checks = 0;
      let outcome: unknown = 'pending';
      void pollUntil(
        async () => {
          checks++;
          return false;
        },
        {
          timeoutMs: 2 ** 31 + 5000,
          timeoutError: () => new FutureTimeoutError('timed out'),
          firstDelayMs: 10,
          maxDelayMs: 2 ** 31 - 1,
        },
      ).then(
        () => {
          outcome = 'resolved';
        },
        (e: unknown) => {
          outcome = e;
        },
      );
      await jest.advanceTimersByTimeAsync(10);
      expect(outcome).toBe('pending');
      await jest.advanceTimersByTimeAsync(2 ** 31 - 11);
      expect(outcome).toBe('pending');
      await jest.advanceTimersByTimeAsync(4000);
      expect(outcome).toBe('pending');
      await jest.advanceTimersByTimeAsync(1001);
      expect(outcome).toBeInstanceOf(FutureTimeoutError);
      expect(checks).toBeGreaterThan(1);
    } finally {
      jest.useRealTimers();
    }
  });
});
