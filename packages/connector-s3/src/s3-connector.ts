import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  type ConnectorConfig,
  ConnectorError,
  type DeferrableConnector,
  FutureTimeoutError,
  formatKey,
  mapLimit,
  type WaitOptions,
} from '@proxy/core';
import { asBuffer } from './as-buffer.js';
import { uploadMultipart } from './multipart-upload.js';
import { pollUntil } from './poll-until.js';
import { putObjectParts } from './put-object-parts.js';
import { BodyReadError, BodyTooLargeError, readBody } from './read-body.js';
import {
  type ResolvedS3Options,
  resolveS3Options,
  type S3ConnectorOptions,
} from './s3-connector-options.js';
import { errorCode, httpStatus, isMissingObject, s3Failure } from './s3-failure.js';
import { assertS3Key, type S3Key, s3ObjectKeyOf } from './s3-key.js';

/** S3 accepts at most this many keys in one DeleteObjects request. */
const DELETE_BATCH = 1000;
/** waitFor polls HeadObject, starting at this interval and doubling up to the cap. */
const WAIT_FIRST_MS = 10;
const WAIT_MAX_MS = 500;
/**
 * An upload's deadline grows with its body at this floor rate (1 MiB/s), so a large single
 * PutObject on a slow link is not cut off while a silent server is still caught.
 */
const UPLOAD_FLOOR_BYTES_PER_MS = (1024 * 1024) / 1000;
/** Node's timers fire after 1 ms for any delay above this (2^31 - 1). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface RequestOptions<T> {
  operation: string;
  objectKey?: string;
  /** A caller's signal (waitFor): its abort rejects with its reason, not a ConnectorError. */
  signal?: AbortSignal;
  /** Size of the request body, which extends the deadline (see UPLOAD_FLOOR_BYTES_PER_MS). */
  bodyBytes?: number;
  /** Turns an expected error into a value (a missing key into null); undefined rethrows. */
  recover?: (error: unknown) => T | undefined;
  /** Not cut off by close() (the abort of a multipart upload that close() interrupted). */
  survivesClose?: boolean;
}

/**
 * A connector that keeps objects in an S3 bucket: AWS S3 or any S3-compatible server
 * (MinIO, Ceph, Cloudflare R2, s3rver). Keys are `{ bucket, objectKey }` with
 * `objectKey = prefix + uuid`. Objects above `multipartThresholdBytes` go up as a
 * multipart upload (aborted on failure, so no parts are left behind).
 */
export class S3Connector implements DeferrableConnector<S3Key> {
  static readonly packageName = '@proxy/connector-s3';
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  private readonly options: ResolvedS3Options;
  private readonly ownsClient: boolean;
  private readonly endpointLabel: string | undefined;
  private bucketReady: Promise<void> | undefined;
  private bucketVerified: Promise<void> | undefined;
  private plainBodies: Promise<boolean> | undefined;
  private closed = false;
  /** Aborted by close(): cuts off every request in flight. */
  private readonly closing = new AbortController();

  constructor(options: S3ConnectorOptions) {
    this.options = resolveS3Options(options);
    const o = this.options;
    this.bucket = o.bucket;
    this.prefix = o.prefix;
    if (options.client !== undefined) {
      if (!(options.client instanceof S3Client))
        throw new TypeError('S3Connector: client must be an S3Client');
      this.client = options.client;
      this.ownsClient = false;
      this.endpointLabel = o.endpoint;
    } else {
      this.client = new S3Client({
        region: o.region,
        endpoint: o.endpoint,
        forcePathStyle: o.forcePathStyle,
        credentials: options.credentials,
        maxAttempts: o.maxAttempts,
        requestChecksumCalculation: o.checksums,
        responseChecksumValidation: o.checksums,
        // Without these a dead server is retried on sockets that never time out.
        requestHandler: {
          connectionTimeout: o.requestTimeoutMs,
          socketTimeout: o.requestTimeoutMs,
        },
      });
      this.ownsClient = true;
      this.endpointLabel = o.endpoint ?? `AWS S3 (${o.region ?? 'region from the SDK chain'})`;
    }
  }

  /**
   * Rebuilds a connector from `config().options`, as received with a proxy. A config is
   * data from elsewhere, so it cannot turn on what only the constructor may: `createBucket`
   * (and an injected `client`) are ignored here; a rebuilt connector never creates buckets.
   */
  static fromConfig(options: Record<string, unknown>): S3Connector {
    const { createBucket: _createBucket, client: _client, ...rest } = options;
    return new S3Connector(rest as unknown as S3ConnectorOptions);
  }

  validateKey(key: unknown): asserts key is S3Key {
    assertS3Key(key, this.bucket, this.prefix);
  }

  /** The checked object key; requests use it, never a second read of `key.objectKey`. */
  private objectKeyOf(key: unknown): string {
    return s3ObjectKeyOf(key, this.bucket, this.prefix);
  }

  private makeKey(): S3Key {
    return { bucket: this.bucket, objectKey: `${this.prefix}${randomUUID()}` };
  }

  async put(data: Uint8Array): Promise<S3Key> {
    const key = this.makeKey();
    await this.write(key.objectKey, [data]);
    return key;
  }

  /**
   * Stores the concatenation of `parts` without joining them in memory when it fits one
   * PutObject (the store's path for raw bytes: `[header, caller's buffer]`). A multipart
   * upload joins them once.
   */
  async putParts(parts: readonly Uint8Array[]): Promise<S3Key> {
    const key = this.makeKey();
    await this.write(key.objectKey, parts);
    return key;
  }

  /**
   * `put` of each item, `concurrency` at a time. If one fails, the objects already stored for
   * this batch are deleted again before the error is thrown: the caller never got their keys,
   * so nothing else could ever evict them.
   */
  async putBatch(data: Uint8Array[]): Promise<S3Key[]> {
    const written: S3Key[] = [];
    try {
      return await mapLimit(data, this.options.concurrency, async (d) => {
        const key = await this.put(d);
        written.push(key);
        return key;
      });
    } catch (error) {
      // Best effort: the batch's own error is the one worth reporting.
      if (written.length && !this.closed) await this.evictBatch(written).catch(() => undefined);
      throw error;
    }
  }

  async get(key: S3Key): Promise<Uint8Array | null> {
    const objectKey = this.objectKeyOf(key);
    return this.getObject(objectKey);
  }

  private async getObject(objectKey: string): Promise<Uint8Array | null> {
    this.assertOpen();
    const response = await this.request(
      {
        operation: 'GetObject',
        objectKey,
        recover: (e) => (isMissingObject(e) ? null : undefined),
      },
      (abortSignal) =>
        this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }), {
          abortSignal,
        }),
    );
    if (response === null) return null;
    try {
      return await readBody(response.Body, response.ContentLength, this.options.requestTimeoutMs);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        throw new ConnectorError(
          `S3Connector: GetObject s3://${this.bucket}/${objectKey} at ${await this.describeEndpoint()}: ${error.message}; it cannot be read into memory (the body was not downloaded).`,
          { cause: error },
        );
      }
      if (error instanceof BodyReadError) {
        // The server did answer (status and headers arrived): not an unreachable server.
        throw new ConnectorError(
          `S3Connector: GetObject s3://${this.bucket}/${objectKey} at ${await this.describeEndpoint()}: the server answered, but its body was cut off: ${error.message}`,
          { cause: error.cause ?? error },
        );
      }
      throw await this.fail({ operation: 'GetObject (reading the body)', objectKey }, error);
    }
  }

  async getBatch(keys: S3Key[]): Promise<(Uint8Array | null)[]> {
    const objectKeys = keys.map((k) => this.objectKeyOf(k));
    return mapLimit(objectKeys, this.options.concurrency, (k) => this.getObject(k));
  }

  async exists(key: S3Key): Promise<boolean> {
    return this.head(this.objectKeyOf(key));
  }

  async evict(key: S3Key): Promise<void> {
    const objectKey = this.objectKeyOf(key);
    this.assertOpen();
    await this.request({ operation: 'DeleteObject', objectKey }, (abortSignal) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }), {
        abortSignal,
      }),
    );
  }

  /** Deletes many keys with DeleteObjects (1000 per request, `concurrency` requests at a time). */
  async evictBatch(keys: S3Key[]): Promise<void> {
    const objectKeys = keys.map((k) => this.objectKeyOf(k));
    this.assertOpen();
    const chunks: string[][] = [];
    for (let i = 0; i < objectKeys.length; i += DELETE_BATCH)
      chunks.push(objectKeys.slice(i, i + DELETE_BATCH));
    await mapLimit(chunks, this.options.concurrency, async (chunk) => {
      const result = await this.request(
        { operation: `DeleteObjects (${chunk.length} keys)` },
        (abortSignal) =>
          this.client.send(
            new DeleteObjectsCommand({
              Bucket: this.bucket,
              Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
            }),
            { abortSignal },
          ),
      );
      const errors = result.Errors ?? [];
      if (errors.length > 0) {
        const first = errors
          .slice(0, 3)
          .map((e) => `${e.Key}: ${e.Code} ${e.Message ?? ''}`.trim());
        throw new ConnectorError(
          `S3Connector: DeleteObjects in bucket "${this.bucket}" at ${await this.describeEndpoint()} failed for ${errors.length} of ${chunk.length} keys (${first.join('; ')})`,
          { cause: errors },
        );
      }
    });
  }

  async newKey(): Promise<S3Key> {
    return this.makeKey();
  }

  async set(key: S3Key, data: Uint8Array): Promise<void> {
    await this.write(this.objectKeyOf(key), [data]);
  }

  /**
   * Polls HeadObject with backoff (10 ms doubling to 500 ms) until the key exists. S3 has no
   * change notifications that work on every S3-compatible server, so polling is the portable
   * way; the backoff keeps a long wait to a few requests per second.
   */
  async waitFor(key: S3Key, options: WaitOptions = {}): Promise<void> {
    const objectKey = this.objectKeyOf(key);
    await pollUntil((signal) => this.head(objectKey, signal), {
      ...options,
      firstDelayMs: WAIT_FIRST_MS,
      maxDelayMs: WAIT_MAX_MS,
      timeoutError: () =>
        new FutureTimeoutError(
          `S3Connector: key=${formatKey({ bucket: this.bucket, objectKey })} did not appear in bucket "${this.bucket}" at ${this.endpointLabel ?? 'the client endpoint'} within ${options.timeoutMs} ms`,
        ),
    });
  }

  config(): ConnectorConfig {
    const o = this.options;
    const options: Record<string, unknown> = {
      bucket: o.bucket,
      prefix: o.prefix,
      forcePathStyle: o.forcePathStyle,
      multipartThresholdBytes: o.multipartThresholdBytes,
      partSizeBytes: o.partSizeBytes,
      concurrency: o.concurrency,
      requestTimeoutMs: o.requestTimeoutMs,
      maxAttempts: o.maxAttempts,
      checksums: o.checksums,
    };
    if (o.region !== undefined) options.region = o.region;
    if (o.endpoint !== undefined) options.endpoint = o.endpoint;
    // Only credentials the caller passed as plain values; never ones from the SDK's chain.
    if (o.staticCredentials !== undefined) options.credentials = { ...o.staticCredentials };
    return { module: S3Connector.packageName, type: 'S3Connector', options };
  }

  /**
   * Cuts off every request in flight (a multipart upload then still tries to abort itself)
   * and destroys the client's sockets (unless the client was injected). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    if (this.ownsClient) this.client.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new ConnectorError(
        `S3Connector(bucket="${this.bucket}") is closed; create a new connector or store.`,
      );
    }
  }

  private async write(objectKey: string, data: readonly Uint8Array[]): Promise<void> {
    this.assertOpen();
    const parts = data.map(asBuffer).filter((p) => p.byteLength > 0);
    if (this.options.createBucket) await this.ensureBucket();
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    if (total > this.options.multipartThresholdBytes) {
      await this.multipartUpload(
        objectKey,
        parts.length === 1 ? parts[0]! : Buffer.concat(parts, total),
      );
      return;
    }
    const target = { Bucket: this.bucket, Key: objectKey };
    if (parts.length > 1 && (await this.sendsPlainBodies())) {
      await this.request({ operation: 'PutObject', objectKey, bodyBytes: total }, (abortSignal) =>
        putObjectParts(this.client, target, parts, total, abortSignal),
      );
      return;
    }
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
    await this.request({ operation: 'PutObject', objectKey, bodyBytes: total }, (abortSignal) =>
      this.client.send(new PutObjectCommand({ ...target, Body: body, ContentLength: total }), {
        abortSignal,
      }),
    );
  }

  /** Whether the client adds no flexible checksums to PutObject (then parts can stream). */
  private sendsPlainBodies(): Promise<boolean> {
    this.plainBodies ??= Promise.resolve(this.client.config.requestChecksumCalculation()).then(
      (mode) => mode === 'WHEN_REQUIRED',
      () => false,
    );
    return this.plainBodies;
  }

  private async multipartUpload(objectKey: string, body: Buffer): Promise<void> {
    const failure = await uploadMultipart({
      client: this.client,
      bucket: this.bucket,
      objectKey,
      body,
      partSizeBytes: this.options.partSizeBytes,
      concurrency: this.options.concurrency,
      checksums: !(await this.sendsPlainBodies()),
      // Every request (create, each part, complete, abort) has the per-request deadline.
      send: (req, send) => this.request({ ...req, objectKey }, send),
      closing: this.closing.signal,
    });
    if (failure) {
      const { error, note } = failure;
      if (ConnectorError.is(error)) {
        throw new ConnectorError(
          `${error.message} (multipart upload of ${body.byteLength} bytes)${note}`,
          { cause: error.cause },
        );
      }
      throw await this.fail(
        { operation: `multipart upload (${body.byteLength} bytes)`, objectKey, note },
        error,
      );
    }
  }

  /** Creates the bucket once if `createBucket` is set; a failure is retried on the next write. */
  private ensureBucket(): Promise<void> {
    this.bucketReady ??= this.request(
      {
        operation: 'CreateBucket',
        recover: (e) => {
          const code = errorCode(e);
          return code === 'BucketAlreadyOwnedByYou' || code === 'BucketAlreadyExists'
            ? null
            : undefined;
        },
      },
      (abortSignal) =>
        this.client.send(new CreateBucketCommand({ Bucket: this.bucket }), { abortSignal }),
    ).then(
      () => undefined,
      (error: unknown) => {
        this.bucketReady = undefined;
        throw error;
      },
    );
    return this.bucketReady;
  }

  /**
   * HeadObject answers a bare 404 both for a missing key and a missing bucket; the first
   * time a key reads as missing, HeadBucket tells which (then it is remembered).
   */
  private verifyBucket(): Promise<void> {
    this.bucketVerified ??= this.request(
      { operation: 'HeadBucket', recover: (e) => (httpStatus(e) === 403 ? null : undefined) },
      (abortSignal) =>
        this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal }),
    ).then(
      () => undefined,
      async (error: unknown) => {
        this.bucketVerified = undefined;
        if (ConnectorError.is(error) && httpStatus(error.cause) === 404) {
          throw new ConnectorError(
            `S3Connector: bucket "${this.bucket}" does not exist at ${await this.describeEndpoint()}. Create it, or pass createBucket: true.`,
            { cause: error.cause },
          );
        }
        throw error;
      },
    );
    return this.bucketVerified;
  }

  private async head(objectKey: string, signal?: AbortSignal): Promise<boolean> {
    this.assertOpen();
    const found = await this.request(
      {
        operation: 'HeadObject',
        objectKey,
        signal,
        recover: (e) => (isMissingObject(e) ? false : undefined),
      },
      (abortSignal) =>
        this.client
          .send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal })
          .then(() => true),
    );
    if (!found) await this.verifyBucket();
    return found;
  }

  /**
   * Sends one request under a deadline of `requestTimeoutMs` (retries included; longer for
   * large bodies) and turns its failure into a `ConnectorError` naming the endpoint, bucket
   * and key.
   */
  private async request<T>(
    req: RequestOptions<T>,
    send: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (!req.survivesClose) this.assertOpen();
    const deadline = new AbortController();
    const limitMs =
      this.options.requestTimeoutMs + Math.ceil((req.bodyBytes ?? 0) / UPLOAD_FLOOR_BYTES_PER_MS);
    const timer = setTimeout(() => deadline.abort(), Math.min(limitMs, MAX_TIMER_MS));
    const signals = [deadline.signal];
    if (!req.survivesClose) signals.push(this.closing.signal);
    if (req.signal) signals.push(req.signal);
    const signal = signals.length === 1 ? deadline.signal : AbortSignal.any(signals);
    try {
      return await send(signal);
    } catch (error) {
      if (req.signal?.aborted) throw req.signal.reason;
      if (!req.survivesClose && this.closing.signal.aborted && !deadline.signal.aborted) {
        const where = `${req.operation} s3://${this.bucket}/${req.objectKey ?? ''}`;
        throw new ConnectorError(
          `S3Connector(bucket="${this.bucket}") was closed while ${where} was in flight at ${await this.describeEndpoint()}`,
          { cause: error },
        );
      }
      if (!deadline.signal.aborted && req.recover) {
        const value = req.recover(error);
        if (value !== undefined) return value;
      }
      throw await this.fail(
        {
          operation: req.operation,
          objectKey: req.objectKey,
          timedOutAfterMs: deadline.signal.aborted ? limitMs : undefined,
        },
        error,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private async fail(
    context: { operation: string; objectKey?: string; timedOutAfterMs?: number; note?: string },
    error: unknown,
  ): Promise<ConnectorError> {
    return s3Failure(
      { ...context, bucket: this.bucket, endpoint: await this.describeEndpoint() },
      error,
    );
  }

  /** The server's address for messages; for an injected client, read from its config. */
  private async describeEndpoint(): Promise<string> {
    if (this.endpointLabel !== undefined) return this.endpointLabel;
    try {
      const endpoint = (await this.client.config.endpoint?.()) as
        | { protocol?: string; hostname?: string; port?: number; path?: string }
        | undefined;
      if (endpoint?.hostname) {
        return `${endpoint.protocol ?? 'https:'}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}${endpoint.path ?? ''}`;
      }
      return `AWS S3 (${await this.client.config.region()})`;
    } catch {
      return 'the endpoint of the injected S3Client';
    }
  }
}
