import { RedisConnector } from '@proxy/connector-redis';
import {
  describeWithService,
  REDIS_INSTALL_HINT,
  type RedisServer,
  redisServerAvailable,
  startRedisServer,
} from '@proxy/connector-test-suite';
import { Store } from '@proxy/core';
import { crossProcessTests } from './test-cross-process.js';

describeWithService(
  'redis-server',
  redisServerAvailable(),
  REDIS_INSTALL_HINT,
  'Future across processes with RedisConnector',
  () => {
    let server: RedisServer;
    beforeAll(async () => {
      server = await startRedisServer();
    });
    afterAll(async () => {
      await server?.stop();
    });

    crossProcessTests(
      async () => new Store('future-redis', new RedisConnector({ url: server.url })),
    );
  },
);
