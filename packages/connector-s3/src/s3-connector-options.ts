import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';

/** Static credentials: the only kind that can be written into a connector config. */
export interface S3StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** How the SDK computes and validates checksums; see the README ("S3-compatible servers"). */
export type S3ChecksumMode = 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';

export interface S3ConnectorOptions {
  /** The bucket every object goes to. Required. */
  bucket: string;
  /** Folder inside the bucket for this connector's objects; a trailing `/` is added. Default `''`. */
  prefix?: string;
  /** AWS region. Default: the SDK's chain (`AWS_REGION`, profile); `us-east-1` when `endpoint` is set and none is found. */
  region?: string;
  /** URL of an S3-compatible server (MinIO, Ceph, R2, s3rver). Default: AWS S3. */
  endpoint?: string;
  /** Bucket in the path (`host/bucket/key`) instead of the host name. Default: true with `endpoint`, else false. */
  forcePathStyle?: boolean;
  /**
   * Static credentials, or an SDK credential provider. Default: the SDK's default chain.
   * Static credentials given here are written into `config()` (so another process can use
   * them); a provider or the default chain never is.
   */
  credentials?:
    | S3StaticCredentials
    | Exclude<S3ClientConfig['credentials'], S3StaticCredentials | undefined>;
  /** Create the bucket (once, before the first write) when it does not exist. Default false. */
  createBucket?: boolean;
  /** Objects larger than this go through a multipart upload. Default 100 MiB (AWS's guidance). */
  multipartThresholdBytes?: number;
  /** Part size of multipart uploads; at least 5 MiB (an S3 rule). Default 8 MiB. */
  partSizeBytes?: number;
  /** Parallel requests for batches and for the parts of one multipart upload. Default 8. */
  concurrency?: number;
  /**
   * How long one request may wait for the server: until its response starts (retries
   * included; an upload gets 1 s more per MiB of body), and then between two chunks of a
   * body. Default 30 000 ms.
   */
  requestTimeoutMs?: number;
  /** Attempts per request, first one included (the SDK's retry). Default 3. */
  maxAttempts?: number;
  /** Checksums. Default `WHEN_REQUIRED` with `endpoint` (see README), else `WHEN_SUPPORTED`. */
  checksums?: S3ChecksumMode;
  /**
   * An existing client. The connector then uses it as it is (its endpoint, credentials,
   * retries) and does not destroy it on close; pass `endpoint`/`region`/`forcePathStyle`
   * too if other processes must rebuild the connector from its config.
   */
  client?: S3Client;
}

/** Options after defaults and validation. */
export interface ResolvedS3Options {
  bucket: string;
  prefix: string;
  region: string | undefined;
  endpoint: string | undefined;
  forcePathStyle: boolean;
  createBucket: boolean;
  multipartThresholdBytes: number;
  partSizeBytes: number;
  concurrency: number;
  requestTimeoutMs: number;
  maxAttempts: number;
  checksums: S3ChecksumMode;
  staticCredentials: S3StaticCredentials | undefined;
}

export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** S3 allows at most this many parts in one multipart upload. */
export const MAX_PARTS = 10_000;

function isStatic(credentials: unknown): credentials is S3StaticCredentials {
  return (
    typeof credentials === 'object' &&
    credentials !== null &&
    typeof (credentials as S3StaticCredentials).accessKeyId === 'string' &&
    typeof (credentials as S3StaticCredentials).secretAccessKey === 'string'
  );
}

function positiveInt(name: string, value: unknown, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new TypeError(`S3Connector: ${name} must be an integer >= ${min}; got ${String(value)}`);
  }
  return v;
}

/** Node's timers fire after 1 ms for a delay above 2^31 - 1 ms (about 24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function boundedInt(name: string, value: number, max: number): number {
  if (value > max) {
    throw new TypeError(`S3Connector: ${name} must be at most ${max} (2^31 - 1); got ${value}`);
  }
  return value;
}

/** Applies defaults and rejects bad options with a message naming the option. */
export function resolveS3Options(options: S3ConnectorOptions): ResolvedS3Options {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('S3Connector: options must be an object');
  const { bucket } = options;
  if (typeof bucket !== 'string' || bucket.length === 0 || bucket.includes('/')) {
    throw new TypeError(
      `S3Connector: bucket must be a non-empty bucket name without "/"; got ${JSON.stringify(bucket)}`,
    );
  }
  const rawPrefix = options.prefix ?? '';
  if (
    typeof rawPrefix !== 'string' ||
    rawPrefix.startsWith('/') ||
    rawPrefix.split('/').includes('..')
  ) {
    throw new TypeError(
      `S3Connector: prefix must be a relative key prefix (no leading "/", no ".."); got ${JSON.stringify(rawPrefix)}`,
    );
  }
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  const endpoint = options.endpoint;
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new TypeError(
        `S3Connector: endpoint must be a URL such as http://127.0.0.1:9000; got ${JSON.stringify(endpoint)}`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(
        `S3Connector: endpoint must use http or https; got ${JSON.stringify(endpoint)}`,
      );
    }
  }
  const region =
    options.region ??
    process.env.AWS_REGION ??
    process.env.AWS_DEFAULT_REGION ??
    (endpoint ? 'us-east-1' : undefined);
  const partSizeBytes = positiveInt(
    'partSizeBytes',
    options.partSizeBytes,
    8 * 1024 * 1024,
    MIN_PART_BYTES,
  );
  const checksums = options.checksums ?? (endpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED');
  if (checksums !== 'WHEN_REQUIRED' && checksums !== 'WHEN_SUPPORTED') {
    throw new TypeError(
      `S3Connector: checksums must be "WHEN_REQUIRED" or "WHEN_SUPPORTED"; got ${JSON.stringify(checksums)}`,
    );
  }
  if (
    options.credentials !== undefined &&
    typeof options.credentials !== 'function' &&
    !isStatic(options.credentials)
  ) {
    throw new TypeError(
      'S3Connector: credentials must be { accessKeyId, secretAccessKey, sessionToken? } or a credential provider function',
    );
  }
  return {
    bucket,
    prefix,
    region,
    endpoint,
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    createBucket: options.createBucket ?? false,
    multipartThresholdBytes: positiveInt(
      'multipartThresholdBytes',
      options.multipartThresholdBytes,
      100 * 1024 * 1024,
      0,
    ),
    partSizeBytes,
    concurrency: positiveInt('concurrency', options.concurrency, 8),
    requestTimeoutMs: boundedInt(
      'requestTimeoutMs',
      positiveInt('requestTimeoutMs', options.requestTimeoutMs, 30_000),
      MAX_TIMEOUT_MS,
    ),
    maxAttempts: positiveInt('maxAttempts', options.maxAttempts, 3),
    checksums,
    staticCredentials: isStatic(options.credentials) ? { ...options.credentials } : undefined,
  };
}
