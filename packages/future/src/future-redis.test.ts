import { RedisConnector } from '@proxy/connector-redis';
import { describeWithRedis } from '@proxy/connector-test-suite';
import { Store } from '@proxy/core';
import { crossProcessTests } from './test-cross-process.js';

describeWithRedis('Future across processes with RedisConnector', (redis) => {
  crossProcessTests(
    async () => new Store('future-redis', new RedisConnector({ url: redis().url })),
  );
});
