import {
  describeWithService,
  REDIS_INSTALL_HINT,
  type RedisCluster,
  redisClusterAvailable,
  redisCommand,
  runConnectorConformance,
  startRedisCluster,
} from '@proxy/connector-test-suite';
import { stopSyncBridge } from '@proxy/core';
import { Cluster } from 'ioredis';
import { keySlot } from './key-slot.js';
import { RedisConnector } from './redis-connector.js';

describeWithService(
  'redis-server',
  redisClusterAvailable(),
  REDIS_INSTALL_HINT,
  'RedisConnector on a 3-master Redis Cluster',
  () => {
    let cluster: RedisCluster;

    beforeAll(async () => {
      cluster = await startRedisCluster({ masters: 3 });
    });

    afterAll(async () => {
      await cluster?.stop();
      await stopSyncBridge();
    });

    runConnectorConformance({
      name: 'RedisConnector (cluster)',
      create: () => new RedisConnector({ cluster: cluster.nodes }),
      foreignKeys: [{ filename: 'x' }, { redisKey: 'x', extra: 'y' }],
      largeBytes: 10 * 1024 * 1024,
    });

    test('keySlot matches the slot the cluster itself computes', async () => {
      const node = cluster.nodes[0]!;
      for (const name of [
        'foo',
        '0b3c5d1e-1111-4222-8333-444455556666',
        '{user1000}.following',
        'a{}b',
        '{abc',
      ]) {
        expect(keySlot(name)).toBe(
          await redisCommand(node.host, node.port, ['CLUSTER', 'KEYSLOT', name]),
        );
      }
    });

    test('foreign names whose signal list cannot share their slot still set, wait and evict', async () => {
      await using connector = new RedisConnector({ cluster: cluster.nodes });
      for (const redisKey of ['legacy{}name', '{tag}:thing', 'a{b']) {
        const key = { redisKey };
        const waiting = connector.waitFor(key, { timeoutMs: 10_000 });
        await connector.set(key, Buffer.from(redisKey));
        await expect(waiting).resolves.toBeUndefined();
        expect(Buffer.from((await connector.get(key))!).toString()).toBe(redisKey);
        await connector.evict(key);
        expect(await connector.exists(key)).toBe(false);
      }
    });

    test('a batch of 300 values spread over every master reads back in order, and evictBatch removes them', async () => {
      await using connector = new RedisConnector({ cluster: cluster.nodes, ttlSeconds: 300 });
      const values = Array.from({ length: 300 }, (_, i) =>
        Buffer.from(`value-${i}-${'x'.repeat(i)}`),
      );
      const keys = await connector.putBatch(values);
      const slots = new Set(keys.map((k) => keySlot(k.redisKey)));
      expect(slots.size).toBeGreaterThan(250);
      const got = await connector.getBatch(keys);
      expect(got.map((g) => Buffer.from(g!).toString())).toEqual(values.map((v) => v.toString()));
      // Every master holds some of them: the batch really crossed nodes.
      const perNode = await Promise.all(
        cluster.nodes.map(async (n) => Number(await redisCommand(n.host, n.port, ['DBSIZE']))),
      );
      for (const count of perNode) expect(count).toBeGreaterThan(0);
      await connector.evictBatch(keys);
      expect((await connector.getBatch(keys)).every((g) => g === null)).toBe(true);
    });

    test('set signals waitFor across nodes, and an injected Cluster client works and is left open', async () => {
      const client = new Cluster(cluster.nodes, { lazyConnect: true });
      client.on('error', () => {});
      const writer = new RedisConnector({ client });
      const reader = new RedisConnector({ cluster: [cluster.nodes[2]!] });
      try {
        const key = await writer.newKey();
        const waiting = reader.waitFor(key, { timeoutMs: 10_000 });
        await new Promise((r) => setTimeout(r, 100));
        await writer.set(key, Buffer.from('clustered'));
        await expect(waiting).resolves.toBeUndefined();
        expect(Buffer.from((await reader.get(key))!).toString()).toBe('clustered');
        const { options } = writer.config();
        expect((options.cluster as unknown[]).length).toBeGreaterThan(0);
        await writer.evict(key);
      } finally {
        await writer.close();
        await reader.close();
      }
      expect(client.status).toBe('ready');
      await client.quit();
    });
  },
);
