import { assertStringKey, formatKey, InvalidKeyError, isUuid } from '@proxy/core';

/** Where one object lives: the bucket and the full object key (prefix + uuid). */
export interface S3Key {
  readonly [field: string]: string;
  readonly bucket: string;
  readonly objectKey: string;
}

/**
 * Throws `InvalidKeyError` unless `key` names an object this connector wrote: the same
 * bucket, and an object key made of the connector's prefix and a uuid. Keys arrive from
 * other processes, so this keeps a forged key from reading or deleting anything else in
 * the bucket.
 */
export function assertS3Key(key: unknown, bucket: string, prefix: string): asserts key is S3Key {
  assertStringKey(key, ['bucket', 'objectKey'], 'S3Connector');
  const { bucket: keyBucket, objectKey } = key as S3Key;
  if (keyBucket !== bucket) {
    throw new InvalidKeyError(
      `S3Connector(bucket="${bucket}") was given a key for bucket "${keyBucket}": ${formatKey(key)}`,
    );
  }
  if (!objectKey.startsWith(prefix) || !isUuid(objectKey.slice(prefix.length))) {
    throw new InvalidKeyError(
      `S3Connector(bucket="${bucket}", prefix="${prefix}") keys are "${prefix}<uuid>"; got objectKey ${JSON.stringify(objectKey)}`,
    );
  }
}
