import type { ConnectorKey } from './connector.js';
import { formatKey, InvalidKeyError } from './errors.js';

/** A stable string for a key object (fields sorted), used for cache and metrics. */
export function keyId(key: ConnectorKey): string {
  const fields = Object.keys(key).sort();
  let out = '{';
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    out += `${i ? ',' : ''}${JSON.stringify(f)}:${JSON.stringify(key[f])}`;
  }
  return `${out}}`;
}

/** Checks that `key` is a plain object whose `fields` are all non-empty strings. */
export function assertStringKey(
  key: unknown,
  fields: readonly string[],
  connector: string,
): asserts key is Record<string, string> {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) {
    throw new InvalidKeyError(
      `${connector} key must be an object with ${fields.join(', ')}; got ${formatKey(key)}`,
    );
  }
  for (const f of fields) {
    const v = (key as Record<string, unknown>)[f];
    if (typeof v !== 'string' || v.length === 0) {
      throw new InvalidKeyError(
        `${connector} key needs a non-empty string "${f}"; got ${formatKey(key)}`,
      );
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
