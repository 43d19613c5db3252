import {
  REDIS_INSTALL_HINT,
  type RedisServer,
  type RedisServerOptions,
  redisServerAvailable,
  startRedisServer,
} from './redis-server.js';
import { describeWithService } from './service.js';

/**
 * A `describe` block with its own `redis-server` (started before the block, stopped after):
 * `body` gets a getter for it. A missing binary fails under CI and is a printed skip elsewhere.
 */
export function describeWithRedis(
  title: string,
  body: (server: () => RedisServer) => void,
  options?: RedisServerOptions,
): void {
  describeWithService('redis-server', redisServerAvailable(), REDIS_INSTALL_HINT, title, () => {
    let server: RedisServer | undefined;
    beforeAll(async () => {
      server = await startRedisServer(options);
    });
    afterAll(async () => {
      await server?.stop();
    });
    body(() => {
      if (!server)
        throw new Error('the Redis server is not started yet (use it inside a test or hook)');
      return server;
    });
  });
}
