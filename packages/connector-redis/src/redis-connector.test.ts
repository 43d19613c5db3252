import {
  describeWithService,
  REDIS_INSTALL_HINT,
  type RedisServer,
  redisServerAvailable,
  runConnectorConformance,
  startRedisServer,
} from '@proxy/connector-test-suite';
import { FutureTimeoutError, InvalidKeyError, Store, stopSyncBridge } from '@proxy/core';
import { Redis } from 'ioredis';
import { RedisConnector } from './redis-connector.js';
import { sleep } from './test-helpers.js';

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
      // From the URL (a REDIS_URL may carry a password or rediss://), db overridden.
      create: () =>
        new RedisConnector({
          url: server.url,
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

    test('waitFor: every concurrent waiter wakes on one set, a late waiter returns at once', async () => {
      await using writer = new RedisConnector({ url: server.url });
      await using reader = new RedisConnector({ url: server.url });
      const key = await writer.newKey();
      const waiters = Array.from({ length: 3 }, () => reader.waitFor(key, { timeoutMs: 10_000 }));
      await sleep(100);
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

    test("the signal list is named inside keyPrefix, in the key's slot, and evict removes it", async () => {
      await using connector = new RedisConnector({ url: server.url, keyPrefix: 'sig:' });
      const key = await connector.newKey();
      const waiting = connector.waitFor(key, { timeoutMs: 10_000 });
      await connector.set(key, Buffer.from('v'));
      await expect(waiting).resolves.toBeUndefined();
      const signal = `sig:{${key.redisKey}}:ready`;
      expect(await raw.lrange(signal, 0, -1)).toEqual(['1']);
      expect(await raw.exists(`{${key.redisKey}}:ready`)).toBe(0);
      const tagged = { redisKey: `sig:{job}${Date.now()}` };
      await connector.set(tagged, Buffer.from('t'));
      expect(await raw.exists(`${tagged.redisKey}:ready`)).toBe(1);
      await connector.evictBatch([key, tagged]);
      expect(
        await raw.exists(key.redisKey, signal, tagged.redisKey, `${tagged.redisKey}:ready`),
      ).toBe(0);
    });

    test('fractional TTLs (1.5 s) land as PX on put, putParts, putBatch and set; a 0.5 s signal TTL works', async () => {
      await using connector = new RedisConnector({
        url: server.url,
        ttlSeconds: 1.5,
        readySignalTtlSeconds: 0.5,
      });
      const put = await connector.put(Buffer.from('put'));
      const parts = await connector.putParts([Buffer.from('BS\n'), Buffer.alloc(1000, 7)]);
      const batch = await connector.putBatch([Buffer.from('a'), Buffer.from('b')]);
      const deferred = await connector.newKey();
      await connector.set(deferred, Buffer.from('set'));
      for (const key of [put, parts, ...batch, deferred]) {
        const pttl = await raw.pttl(key.redisKey);
        expect(pttl).toBeGreaterThan(1000);
        expect(pttl).toBeLessThanOrEqual(1500);
      }
      expect((await raw.getBuffer(parts.redisKey))!.length).toBe(1003);
      const signalTtl = await raw.pttl(`{${deferred.redisKey}}:ready`);
      expect(signalTtl).toBeGreaterThan(0);
      expect(signalTtl).toBeLessThanOrEqual(500);
      await connector.evictBatch([put, parts, ...batch, deferred]);
    });

    test('an injected client is used, not closed, and its password never reaches config()', async () => {
      // From the URL (db 2), so a REDIS_URL with a password authenticates (and must not leak).
      const url = new URL(server.url);
      url.pathname = '/2';
      const client = new Redis(url.toString(), { lazyConnect: true });
      try {
        const connector = new RedisConnector({ client, passwordEnv: 'PROXY_TEST_REDIS_PASSWORD' });
        const key = await connector.put(Buffer.from('injected'));
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
      } finally {
        await client.quit();
      }
    });
  },
);
