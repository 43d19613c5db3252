import {
  describeWithService,
  REDIS_INSTALL_HINT,
  type RedisCluster,
  type RedisClusterNode,
  redisClusterAvailable,
  redisCommand,
  runConnectorConformance,
  startRedisCluster,
} from '@proxy/connector-test-suite';
import { stopSyncBridge } from '@proxy/core';
import { Cluster, Redis } from 'ioredis';
import { keySlot } from './key-slot.js';
import { RedisConnector } from './redis-connector.js';
import { readySignalKey } from './redis-key.js';

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

    test('with a keyPrefix the signal lists stay inside it and set/waitFor/evict work across slots', async () => {
      await using connector = new RedisConnector({ cluster: cluster.nodes, keyPrefix: 'app:' });
      const client = connector.client as Cluster;
      const fresh = await connector.newKey();
      for (const key of [fresh, { redisKey: 'app:{tag}thing' }, { redisKey: 'app:a{}b' }]) {
        const waiting = connector.waitFor(key, { timeoutMs: 10_000 });
        await connector.set(key, Buffer.from(key.redisKey));
        await expect(waiting).resolves.toBeUndefined();
        const signal = readySignalKey(key.redisKey, 'app:').name;
        expect(signal.startsWith('app:')).toBe(true);
        expect(await client.exists(signal)).toBe(1);
        await connector.evict(key);
        expect(await client.exists(key.redisKey)).toBe(0);
        expect(await client.exists(signal)).toBe(0);
      }
      // A generated key's signal list shares its slot: value and signal are one MULTI.
      expect(readySignalKey(fresh.redisKey, 'app:')).toEqual({
        name: `app:{${fresh.redisKey}}:ready`,
        coLocated: true,
      });
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

/** The id of a cluster node. */
async function nodeId(node: RedisClusterNode): Promise<string> {
  return String(await redisCommand(node.host, node.port, ['CLUSTER', 'MYID']));
}

/** A numeric field of a node's `INFO <section>`, 0 when absent. */
async function info(node: RedisClusterNode, section: string, field: string): Promise<number> {
  const text = String(await redisCommand(node.host, node.port, ['INFO', section]));
  return Number(new RegExp(`^${field}:(?:count=)?(\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * Moves `slot` (and its keys) from `source` to `target` the way resharding does: IMPORTING /
 * MIGRATING, MIGRATE of the keys, then SETSLOT … NODE on the target first and every node after.
 */
async function moveSlot(
  nodes: RedisClusterNode[],
  slot: number,
  source: RedisClusterNode,
  target: RedisClusterNode,
): Promise<void> {
  const [sourceId, targetId] = [await nodeId(source), await nodeId(target)];
  const on = (n: RedisClusterNode, ...args: string[]) => redisCommand(n.host, n.port, args);
  await on(target, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', sourceId);
  await on(source, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', targetId);
  for (;;) {
    const keys = (await on(source, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[];
    if (keys.length === 0) break;
    await on(
      source,
      'MIGRATE',
      target.host,
      String(target.port),
      '',
      '0',
      '10000',
      'KEYS',
      ...keys,
    );
  }
  await on(target, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', targetId);
  for (const node of nodes.filter((n) => n !== target))
    await on(node, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', targetId);
}

describeWithService(
  'a private redis-server binary',
  redisClusterAvailable({ private: true }),
  'this test moves slots between the nodes of a cluster of its own (REDIS_CLUSTER_NODES does not replace it): install redis-server (apt-get install redis-server) or set REDIS_SERVER_BIN',
  'RedisConnector on a private 3-master cluster whose slots move',
  () => {
    let cluster: RedisCluster;

    beforeAll(async () => {
      cluster = await startRedisCluster({ masters: 3, private: true });
    });

    afterAll(async () => {
      await cluster?.stop();
    });

    test('putParts after a MOVED redirect: the framed SET is resent to the new owner, bytes and TTL intact', async () => {
      // One hash tag keeps every key of this connector in one slot, which the test then moves.
      await using connector = new RedisConnector({
        cluster: cluster.nodes,
        keyPrefix: '{moved}:',
        ttlSeconds: 30,
      });
      const slot = keySlot('{moved}:');
      const header = Buffer.from('BS\n');
      const payload = Buffer.alloc(1024 * 1024, 0x5a);
      // Warm up: the client learns the slot map (and the slot holds a key to migrate).
      const before = await connector.putParts([header, payload]);
      const slots = (await redisCommand(cluster.nodes[0]!.host, cluster.nodes[0]!.port, [
        'CLUSTER',
        'SLOTS',
      ])) as [number, number, [string, number, string]][];
      const owner = slots.find(([from, to]) => from <= slot && slot <= to)![2];
      const source = cluster.nodes.find((n) => n.port === owner[1])!;
      const target = cluster.nodes.find((n) => n !== source)!;
      await moveSlot(cluster.nodes, slot, source, target);
      const movedBefore = await info(source, 'errorstats', 'errorstat_MOVED');

      const after = await connector.putParts([header, payload]);

      // The client still believed in the old owner: it got MOVED and resent the command.
      expect(await info(source, 'errorstats', 'errorstat_MOVED')).toBeGreaterThan(movedBefore);
      const direct = new Redis({ host: target.host, port: target.port });
      try {
        for (const key of [before, after]) {
          const stored = (await direct.getBuffer(key.redisKey))!;
          expect(stored.length).toBe(header.length + payload.length);
          expect(stored.subarray(0, 3).equals(header)).toBe(true);
          expect(stored.subarray(3).equals(payload)).toBe(true);
        }
        const pttl = await direct.pttl(after.redisKey);
        expect(pttl).toBeGreaterThan(25_000);
        expect(pttl).toBeLessThanOrEqual(30_000);
      } finally {
        await direct.quit();
      }
      expect(
        Buffer.from((await connector.get(after))!)
          .subarray(3)
          .equals(payload),
      ).toBe(true);
      await connector.evictBatch([before, after]);
    });
  },
);
