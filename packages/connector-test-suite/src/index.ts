export { bytes, type ConformanceOptions, runConnectorConformance } from './conformance.js';
export { describeWithRedis } from './describe-with-redis.js';
export { freePort, waitForPort } from './net.js';
export {
  REDIS_INSTALL_HINT,
  type RedisCluster,
  type RedisClusterNode,
  type RedisClusterOptions,
  type RedisServer,
  type RedisServerOptions,
  redisClusterAvailable,
  redisCommand,
  redisServerAvailable,
  redisServerBin,
  startRedisCluster,
  startRedisServer,
} from './redis-server.js';
export { type NodeResult, type RunNodeOptions, runNode } from './run-node.js';
export { describeWithService, requireService } from './service.js';
export { thrown } from './thrown.js';
