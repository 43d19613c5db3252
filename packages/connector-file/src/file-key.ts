import { formatKey, InvalidKeyError, isUuid } from '@proxy/core';

/** A FileConnector key: the object's file name inside the store directory (a uuid). */
export interface FileKey {
  readonly [field: string]: string;
  readonly filename: string;
}

/** Suffix of the empty marker file that says `<uuid>` is complete (ProxyStore's layout). */
export const READY_SUFFIX = '.ready';

/**
 * Prefix of in-progress writes. It starts with a dot and never parses as a uuid, so neither
 * this package nor Python ProxyStore can mistake a temp file (left by a killed writer) for data.
 */
export const TEMP_PREFIX = '.tmp-';

/**
 * The object's file name in `key`, or `InvalidKeyError` unless `key` is exactly
 * `{ filename: <uuid> }`. Keys arrive from other processes, so the uuid check is what keeps a
 * key from naming a path outside the directory: a uuid cannot hold a separator, `..`, a NUL
 * byte or an absolute path. The field is read once and the checked value is what callers use,
 * so a key whose `filename` changes between reads (a getter, a Proxy) cannot slip a path past
 * the check.
 */
export function fileNameOf(key: unknown): string {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) {
    throw new InvalidKeyError(
      `FileConnector key must be an object { filename: <uuid> }; got ${formatKey(key)}`,
    );
  }
  const fields = Object.keys(key);
  const filename = (key as Record<string, unknown>).filename;
  if (fields.length !== 1 || typeof filename !== 'string') {
    throw new InvalidKeyError(
      `FileConnector key must have exactly one field "filename" (a uuid); got ${formatKey(key)}`,
    );
  }
  if (!isUuid(filename)) {
    throw new InvalidKeyError(
      `FileConnector key filename must be a plain uuid (no path separators, "..", NUL or absolute paths); got ${formatKey({ filename })}`,
    );
  }
  return filename;
}

/** Throws `InvalidKeyError` unless `key` is exactly `{ filename: <uuid> }` (see `fileNameOf`). */
export function assertFileKey(key: unknown): asserts key is FileKey {
  fileNameOf(key);
}

/** True for a directory entry that is an object's data file (`<uuid>`). */
export function isDataName(name: string): boolean {
  return isUuid(name);
}

/** True for an entry this package's layout owns: data, marker or temp file. */
export function isLayoutName(name: string): boolean {
  if (name.startsWith(TEMP_PREFIX)) return true;
  if (name.endsWith(READY_SUFFIX)) return isUuid(name.slice(0, -READY_SUFFIX.length));
  return isUuid(name);
}
