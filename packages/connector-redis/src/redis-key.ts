import { formatKey, InvalidKeyError } from '@proxy/core';
import { hashTag, keySlot } from './key-slot.js';

/** A RedisConnector key: the full Redis key name (prefix included), as ProxyStore's `RedisKey(redis_key)`. */
export interface RedisKey {
  readonly [field: string]: string;
  readonly redisKey: string;
}

/** Longest key name accepted; a generous bound that still catches garbage passed as a key. */
export const MAX_REDIS_KEY_LENGTH = 4096;

/**
 * The Redis key name in `key`, or `InvalidKeyError` unless `key` is exactly `{ redisKey }` with
 * a non-empty string inside this connector's namespace (starting with `keyPrefix`, with
 * something after it). Any other name is accepted, so keys written by other clients (Python
 * ProxyStore, a plain `SET`) can be read as long as they are well formed. The field is read
 * once and callers use the checked value, so a key whose field changes between reads (a
 * getter, a Proxy) cannot reach outside the prefix.
 */
export function redisKeyName(key: unknown, keyPrefix: string): string {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) {
    throw new InvalidKeyError(
      `RedisConnector key must be an object { redisKey: string }; got ${formatKey(key)}`,
    );
  }
  const fields = Object.keys(key);
  const name = (key as Record<string, unknown>).redisKey;
  if (fields.length !== 1 || typeof name !== 'string') {
    throw new InvalidKeyError(
      `RedisConnector key must have exactly one field "redisKey" (a string); got ${formatKey(key)}. It may belong to another connector.`,
    );
  }
  if (name.length === 0 || name.length > MAX_REDIS_KEY_LENGTH) {
    throw new InvalidKeyError(
      `RedisConnector key name must be 1..${MAX_REDIS_KEY_LENGTH} characters; got ${formatKey({ redisKey: name })}`,
    );
  }
  if (keyPrefix && (!name.startsWith(keyPrefix) || name.length === keyPrefix.length)) {
    throw new InvalidKeyError(
      `RedisConnector key ${formatKey({ redisKey: name })} is outside this connector's keyPrefix "${keyPrefix}"; it belongs to another store.`,
    );
  }
  return name;
}

/** Throws `InvalidKeyError` unless `key` is a well-formed key of this namespace (see `redisKeyName`). */
export function assertRedisKey(key: unknown, keyPrefix: string): asserts key is RedisKey {
  redisKeyName(key, keyPrefix);
}

/**
 * The companion list that signals "the value of `redisKey` was written" to `waitFor`.
 *
 * It lives inside the connector's namespace (it starts with `keyPrefix`, as the key does), so
 * an ACL user limited to `~<prefix>*` can use it and it never clobbers a name outside the
 * prefix. It shares the key's hash slot whenever possible, so value and signal go in one
 * MULTI even on a cluster:
 *
 * - a key with a hash tag (`app:{job}x`) gets `<key>:ready`: same tag, same slot;
 * - any other key gets `<keyPrefix>{<key>}:ready`, whose hash tag is the whole key name;
 * - `coLocated` is false for the rare foreign names where neither works (`a{}b`: braces that
 *   do not form a tag); `set` then writes value and signal in two steps.
 */
export function readySignalKey(
  redisKey: string,
  keyPrefix = '',
): { name: string; coLocated: boolean } {
  const name =
    hashTag(redisKey) !== undefined ? `${redisKey}:ready` : `${keyPrefix}{${redisKey}}:ready`;
  return { name, coLocated: keySlot(name) === keySlot(redisKey) };
}
