export { groupBySlot, hashTag, keySlot } from './key-slot.js';
export { RedisConnector } from './redis-connector.js';
export {
  assertRedisKey,
  MAX_REDIS_KEY_LENGTH,
  type RedisKey,
  readySignalKey,
} from './redis-key.js';
export type { RedisConnectorOptions, RedisNodeAddress, RedisTlsOptions } from './redis-options.js';
