import { ConnectorError } from '@proxy/core';

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const NETWORK_CODE =
  /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|ETIMEDOUT)\b/;

/** The S3 error code (`NoSuchKey`, `AccessDenied`, …) or the Node error code (`ECONNREFUSED`). */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as SdkErrorShape;
  const code = e.Code ?? (typeof e.code === 'string' ? e.code : undefined);
  if (code) return code;
  // The SDK re-wraps errors from another realm (a vm context, a test sandbox) as a bare
  // Error whose message alone still names the socket error.
  const network = NETWORK_CODE.exec(e.message ?? '');
  return network ? network[1] : e.name;
}

export function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  return (error as SdkErrorShape).$metadata?.httpStatusCode;
}

/** A missing object (GetObject's NoSuchKey, HeadObject's bare 404), as opposed to a missing bucket. */
export function isMissingObject(error: unknown): boolean {
  const code = errorCode(error);
  return (
    code !== 'NoSuchBucket' &&
    (code === 'NoSuchKey' || code === 'NotFound' || httpStatus(error) === 404)
  );
}

export function isMissingBucket(error: unknown): boolean {
  return errorCode(error) === 'NoSuchBucket';
}

const REFUSED = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'ExpiredToken',
  'InvalidToken',
]);
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ETIMEDOUT',
  'TimeoutError',
]);

/** What went wrong where: enough to name the operation, object and server in a message. */
export interface FailureContext {
  operation: string;
  /** e.g. `http://127.0.0.1:9000` or `AWS S3 (eu-west-1)`. */
  endpoint: string;
  bucket: string;
  objectKey?: string;
  /** Set when our own deadline fired (requestTimeoutMs). */
  timedOutAfterMs?: number;
  /** Appended to the message (e.g. what happened to an aborted multipart upload). */
  note?: string;
}

/** Wraps a client error in a `ConnectorError` that says what failed, where, and what to do. */
export function s3Failure(context: FailureContext, error: unknown): ConnectorError {
  const where = `${context.operation} s3://${context.bucket}/${context.objectKey ?? ''} at ${context.endpoint}`;
  const code = errorCode(error);
  const status = httpStatus(error);
  const detail = `${code ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${(error as SdkErrorShape | undefined)?.message ?? String(error)}`;
  let message: string;
  if (context.timedOutAfterMs !== undefined) {
    message = `S3Connector: ${where} got no answer within ${context.timedOutAfterMs} ms (requestTimeoutMs, plus 1 s per MiB uploaded). Is the server up and reachable?`;
  } else if (isMissingBucket(error)) {
    message = `S3Connector: bucket "${context.bucket}" does not exist at ${context.endpoint} (${context.operation}). Create it, or pass createBucket: true.`;
  } else if ((code && REFUSED.has(code)) || status === 403) {
    message = `S3Connector: ${where} was refused: ${detail}. Check the credentials and the bucket's permissions.`;
  } else if (code && UNREACHABLE.has(code)) {
    const attempts = (error as SdkErrorShape).$metadata?.attempts;
    message = `S3Connector: cannot reach ${context.endpoint} for ${where}${attempts ? ` after ${attempts} attempt(s)` : ''}: ${detail}. Is the server running?`;
  } else {
    message = `S3Connector: ${where} failed: ${detail}`;
  }
  return new ConnectorError(message + (context.note ?? ''), { cause: error });
}
