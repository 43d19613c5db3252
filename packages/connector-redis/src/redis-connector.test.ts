import {
  describeWithService,
  REDIS_INSTALL_HINT,
  type RedisServer,
  redisServerAvailable,
  runConnectorConformance,
  startRedisServer,
} from '@proxy/connector-test-suite';
import {
  ConnectorError,
  FutureTimeoutError,
  InvalidKeyError,
  Store,
  stopSyncBridge,
} from '@proxy/core';
import { Redis } from 'ioredis';
import { RedisConnector } from './redis-connector.js';

const FOREIGN_KEYS = [
  { filename: '0b3c5d1e-1111-4222-8333-444455556666' },
  { bucket: 'b', objectKey: 'k' },
  { redisKey: 'x', extra: 'field' },
  { redisKey: '' },
  { redisKey: 42 },
  { redis_key: '0b3c5d1e-1111-4222-8333-444455556666' },
];

describeWithService(
  'redis-server',
  redisServerAvailable(),
  REDIS_INSTALL_HINT,
  'RedisConnector (standalone)',
  () => {
    let server: RedisServer;
    let raw: Redis;

    beforeAll(async () => {
      server = await startRedisServer();
      raw = new Redis(server.url);
    });

    afterAll(async () => {
      await raw?.quit();
      await server?.stop();
      await stopSyncBridge();
    });

    runConnectorConformance({
      name: 'RedisConnector',
      create: () => new RedisConnector({ url: server.url }),
      foreignKeys: FOREIGN_KEYS,
    });

    runConnectorConformance({
      name: 'RedisConnector with keyPrefix, ttlSeconds and db 3',
      create: () =>
        new RedisConnector({
          host: server.host,
          port: server.port,
          db: 3,
          keyPrefix: 'app:',
          ttlSeconds: 60,
        }),
      foreignKeys: [
        ...FOREIGN_KEYS,
        { redisKey: 'other:0b3c5d1e-1111-4222-8333-444455556666' },
        { redisKey: 'app:' },
      ],
      largeBytes: 1024 * 1024,
    });

    test('keys are the bare uuid by default, and the bytes are in Redis under that name', async () => {
      await using connector = new RedisConnector({ url: server.url });
      const key = await connector.put(Buffer.from('hello'));
      expect(key.redisKey).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      expect((await raw.getBuffer(key.redisKey))?.toString()).toBe('hello');
      expect(await raw.ttl(key.redisKey)).toBe(-1);
      await connector.evict(key);
      expect(await raw.exists(key.redisKey)).toBe(0);
    });

    test('keyPrefix and ttlSeconds land in Redis; binary bytes are kept exactly', async () => {
      await using connector = new RedisConnector({
        url: server.url,
        keyPrefix: 'proxy:',
        ttlSeconds: 120,
      });
      const bytes = Buffer.from([0, 255, 13, 10, 0xc3, 0x28, 0]);
      const key = await connector.put(bytes);
      expect(key.redisKey.startsWith('proxy:')).toBe(true);
      expect(Buffer.compare((await raw.getBuffer(key.redisKey))!, bytes)).toBe(0);
      const ttl = await raw.ttl(key.redisKey);
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
      const [batchKey] = await connector.putBatch([bytes]);
      expect(await raw.ttl(batchKey!.redisKey)).toBeGreaterThan(100);
      await connector.evictBatch([key, batchKey!]);
      expect(await raw.exists(key.redisKey, batchKey!.redisKey)).toBe(0);
    });

    test('a Uint8Array view is stored as its own bytes, not its whole buffer', async () => {
      await using connector = new RedisConnector({ url: server.url });
      const backing = new Uint8Array([1, 2, 3, 4, 5, 6]);
      const key = await connector.put(backing.subarray(2, 4));
      expect([...(await raw.getBuffer(key.redisKey))!]).toEqual([3, 4]);
      await connector.evict(key);
    });

    test('putParts: concurrent large puts each store exactly their own bytes, with TTL and a non-ASCII keyPrefix', async () => {
      await using connector = new RedisConnector({
        url: server.url,
        keyPrefix: 'été:',
        ttlSeconds: 90,
      });
      const values = Array.from({ length: 6 }, (_, i) => Buffer.alloc(2 * 1024 * 1024 + i, i + 1));
      const keys = await Promise.all(
        values.map((v) => connector.putParts([Buffer.from('BS\n'), v])),
      );
      for (const [i, key] of keys.entries()) {
        expect(key.redisKey.startsWith('été:')).toBe(true);
        const stored = (await raw.getBuffer(key.redisKey))!;
        expect(stored.length).toBe(3 + values[i]!.length);
        expect(stored.subarray(0, 3).toString()).toBe('BS\n');
        expect(Buffer.compare(stored.subarray(3), values[i]!)).toBe(0);
        const ttl = await raw.ttl(key.redisKey);
        expect(ttl).toBeGreaterThan(80);
        expect(ttl).toBeLessThanOrEqual(90);
      }
      // The connection stays in step after framed puts: ordinary commands still answer correctly.
      const again = await connector.putParts([Buffer.from('ab'), Buffer.from('c')]);
      expect((await connector.get(again))!.toString()).toBe('abc');
      await connector.evictBatch([...keys, again]);
    });

    test('expire sets a native expiry (sub-second leases work), 0 deletes', async () => {
      await using connector = new RedisConnector({ url: server.url });
      const key = await connector.put(Buffer.from('lease'));
      await connector.expire(key, 30.5);
      const pttl = await raw.pttl(key.redisKey);
      expect(pttl).toBeGreaterThan(29_000);
      expect(pttl).toBeLessThanOrEqual(30_500);
      await connector.expire(key, 0);
      expect(await connector.exists(key)).toBe(false);
      await expect(connector.expire(key, -1)).rejects.toBeInstanceOf(TypeError);
    });

    test('a value written by another client under a foreign key format is readable; malformed keys are InvalidKeyError', async () => {
      await using connector = new RedisConnector({ url: server.url });
      await raw.set('legacy/object:42', Buffer.from('US\nfrom elsewhere'));
      const key = { redisKey: 'legacy/object:42' };
      expect(await connector.exists(key)).toBe(true);
      expect(Buffer.from((await connector.get(key))!).toString()).toBe('US\nfrom elsewhere');
      await using store = new Store('foreign', connector, { cacheSize: 0 });
      expect(await store.get(key)).toBe('from elsewhere');
      for (const bad of [
        { redisKey: 7 },
        { redis_key: 'legacy/object:42' },
        { redisKey: '' },
        { redisKey: 'x'.repeat(5000) },
        'legacy/object:42',
      ]) {
        await expect(connector.get(bad as never)).rejects.toBeInstanceOf(InvalidKeyError);
        expect(() => store.proxyFromKey(bad as never)).toThrow(InvalidKeyError);
      }
      await using prefixed = new RedisConnector({ url: server.url, keyPrefix: 'app:' });
      await expect(prefixed.get(key)).rejects.toThrow(/outside this connector's keyPrefix "app:"/);
      await connector.evict(key);
    });

    test('a key whose redisKey changes between reads (a getter) cannot reach outside keyPrefix', async () => {
      await using connector = new RedisConnector({ url: server.url, keyPrefix: 'app:' });
      const foreign = `other:${Date.now()}`;
      await raw.set(foreign, 'not yours');
      // Reads as a name inside the prefix the first time, as a foreign name afterwards.
      const shifty = () => {
        let reads = 0;
        return Object.defineProperty({}, 'redisKey', {
          enumerable: true,
          get: () => (reads++ === 0 ? `app:${Date.now()}-${Math.random()}` : foreign),
        }) as { redisKey: string };
      };
      expect(await connector.get(shifty())).toBeNull();
      expect(await connector.exists(shifty())).toBe(false);
      expect(await connector.getBatch([shifty()])).toEqual([null]);
      await connector.expire(shifty(), 0);
      await connector.evict(shifty());
      await connector.evictBatch([shifty()]);
      await connector.set(shifty(), Buffer.from('overwritten?'));
      await expect(connector.waitFor(shifty(), { timeoutMs: 1 })).rejects.toBeInstanceOf(
        FutureTimeoutError,
      );
      expect(await raw.get(foreign)).toBe('not yours');
      await raw.del(foreign);
    });

    test('batches are one command each: putBatch one MSET, getBatch one MGET, evictBatch one DEL', async () => {
      // A private server, so its command counters see only this test.
      const own = await startRedisServer({ private: true });
      const stats = new Redis(own.url);
      try {
        await using connector = new RedisConnector({ url: own.url });
        const calls = async () => {
          const info = await stats.info('commandstats');
          const count = (cmd: string) =>
            Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
          return {
            mset: count('mset'),
            set: count('set'),
            mget: count('mget'),
            get: count('get'),
            del: count('del'),
          };
        };
        const values = Array.from({ length: 100 }, (_, i) => Buffer.from(`v${i}`));
        const before = await calls();
        const keys = await connector.putBatch(values);
        const got = await connector.getBatch(keys);
        await connector.evictBatch(keys);
        const after = await calls();
        expect(got.map((g) => Buffer.from(g!).toString())).toEqual(values.map(String));
        expect(after.mset - before.mset).toBe(1);
        expect(after.mget - before.mget).toBe(1);
        expect(after.del - before.del).toBe(1);
        expect(after.set - before.set).toBe(0);
        expect(after.get - before.get).toBe(0);
        expect(await stats.dbsize()).toBe(0);
      } finally {
        await stats.quit();
        await own.stop();
      }
    });

    test('waitFor: every concurrent waiter wakes on one set, a late waiter returns at once, no polling', async () => {
      await using writer = new RedisConnector({ url: server.url });
      await using reader = new RedisConnector({ url: server.url });
      const key = await writer.newKey();
      const before = Number((await raw.info('stats')).match(/total_commands_processed:(\d+)/)![1]);
      const waiters = Array.from({ length: 3 }, () => reader.waitFor(key, { timeoutMs: 10_000 }));
      await new Promise((r) => setTimeout(r, 300));
      const during = Number((await raw.info('stats')).match(/total_commands_processed:(\d+)/)![1]);
      // Three waiters blocked for 300 ms: a handful of setup commands each, not a poll loop.
      expect(during - before).toBeLessThan(40);
      await writer.set(key, Buffer.from('ready'));
      await expect(Promise.all(waiters)).resolves.toEqual([undefined, undefined, undefined]);
      expect(await raw.lrange(`{${key.redisKey}}:ready`, 0, -1)).toEqual(['1']);
      expect(await raw.ttl(`{${key.redisKey}}:ready`)).toBeGreaterThan(0);
      const started = Date.now();
      await reader.waitFor(key, { timeoutMs: 5000 });
      expect(Date.now() - started).toBeLessThan(1000);
      await writer.evict(key);
      expect(await raw.exists(key.redisKey, `{${key.redisKey}}:ready`)).toBe(0);
    });

    test('waitFor: a value written by a plain SET (no signal) is seen at the deadline instead of a timeout', async () => {
      await using connector = new RedisConnector({ url: server.url });
      const key = await connector.newKey();
      const waiting = connector.waitFor(key, { timeoutMs: 300 });
      await raw.set(key.redisKey, 'python wrote this');
      await expect(waiting).resolves.toBeUndefined();
      const other = await connector.newKey();
      await expect(connector.waitFor(other, { timeoutMs: 50 })).rejects.toBeInstanceOf(
        FutureTimeoutError,
      );
      await connector.evict(key);
    });

    test('close() ends a pending waitFor with ConnectorError and leaves no blocked client', async () => {
      const connector = new RedisConnector({ url: server.url });
      const key = await connector.newKey();
      const waiting = connector.waitFor(key);
      await new Promise((r) => setTimeout(r, 200));
      expect(Number((await raw.info('clients')).match(/blocked_clients:(\d+)/)![1])).toBe(1);
      await connector.close();
      await expect(waiting).rejects.toBeInstanceOf(ConnectorError);
      await expect(connector.put(Buffer.from('x'))).rejects.toThrow(/after close\(\)/);
      await new Promise((r) => setTimeout(r, 100));
      expect(Number((await raw.info('clients')).match(/blocked_clients:(\d+)/)![1])).toBe(0);
    });

    test('an injected client is used, not closed, and its password never reaches config()', async () => {
      const client = new Redis({
        host: server.host,
        port: server.port,
        db: 2,
        password: undefined,
        lazyConnect: true,
      });
      const connector = new RedisConnector({ client, passwordEnv: 'PROXY_TEST_REDIS_PASSWORD' });
      const key = await connector.put(Buffer.from('injected'));
      await client.select(2);
      expect((await client.getBuffer(key.redisKey))?.toString()).toBe('injected');
      const { options } = connector.config();
      expect(options).toMatchObject({
        host: server.host,
        port: server.port,
        db: 2,
        passwordEnv: 'PROXY_TEST_REDIS_PASSWORD',
      });
      expect(options).not.toHaveProperty('password');
      await connector.evict(key);
      await connector.close();
      expect(client.status).toBe('ready');
      await client.quit();
    });
  },
);
