import {
  PRIVATE_REDIS_INSTALL_HINT,
  PRIVATE_REDIS_REQUIREMENT,
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
 *
 * With `{ private: true }` (tests that stop or restart the server, create ACL users or read
 * its command counters) the block always starts a server of its own, so it requires the
 * binary even when `REDIS_URL` is set (requirement "a private redis-server binary").
 */
export function describeWithRedis(
  title: string,
  body: (server: () => RedisServer) => void,
  options?: RedisServerOptions,
): void {
  const isPrivate = options?.private === true;
  const [requirement, available, hint] = isPrivate
    ? [
        PRIVATE_REDIS_REQUIREMENT,
        redisServerAvailable({ private: true }),
        PRIVATE_REDIS_INSTALL_HINT,
      ]
    : ['redis-server', redisServerAvailable(), REDIS_INSTALL_HINT];
  describeWithService(requirement, available, hint, title, () => {
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
