import { formatKey, InvalidKeyError, isUuid } from '@proxy/core';

/** Where one object lives: the bucket and the full object key (prefix + uuid). */
export interface S3Key {
  readonly [field: string]: string;
  readonly bucket: string;
  readonly objectKey: string;
}

/**
 * The object key in `key`, or `InvalidKeyError` unless `key` names an object this connector
 * wrote: the same bucket, and an object key made of the connector's prefix and a uuid. Keys
 * arrive from other processes, so this keeps a forged key from reading or deleting anything
 * else in the bucket. Each field is read once and callers use the checked value, so a key whose
 * fields change between reads (a getter, a Proxy) cannot get past the check.
 */
export function s3ObjectKeyOf(key: unknown, bucket: string, prefix: string): string {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) {
    throw new InvalidKeyError(
      `S3Connector key must be an object with bucket, objectKey; got ${formatKey(key)}`,
    );
  }
  const { bucket: keyBucket, objectKey } = key as Record<string, unknown>;
  for (const [field, value] of [
    ['bucket', keyBucket],
    ['objectKey', objectKey],
  ] as const) {
    if (typeof value !== 'string' || value.length === 0) {
      throw new InvalidKeyError(
        `S3Connector key needs a non-empty string "${field}"; got ${formatKey(key)}`,
      );
    }
  }
  const checked = { bucket: keyBucket as string, objectKey: objectKey as string };
  if (checked.bucket !== bucket) {
    throw new InvalidKeyError(
      `S3Connector(bucket="${bucket}") was given a key for bucket "${checked.bucket}": ${formatKey(checked)}`,
    );
  }
  if (!checked.objectKey.startsWith(prefix) || !isUuid(checked.objectKey.slice(prefix.length))) {
    throw new InvalidKeyError(
      `S3Connector(bucket="${bucket}", prefix="${prefix}") keys are "${prefix}<uuid>"; got objectKey ${JSON.stringify(checked.objectKey)}`,
    );
  }
  return checked.objectKey;
}

/** Throws `InvalidKeyError` unless `key` names an object this connector wrote (see `s3ObjectKeyOf`). */
export function assertS3Key(key: unknown, bucket: string, prefix: string): asserts key is S3Key {
  s3ObjectKeyOf(key, bucket, prefix);
}
