import { describeWithRedis } from '@proxy/connector-test-suite';
import { ConnectorError } from '@proxy/core';
import { Redis } from 'ioredis';
import { RedisConnector } from './redis-connector.js';
import { infoField, sleep, until } from './test-helpers.js';

describeWithRedis(
  'RedisConnector on a private server (ACL users, command and client counters)',
  (redis) => {
    let raw: Redis;

    beforeAll(async () => {
      raw = new Redis(redis().url);
    });

    afterAll(async () => {
      await raw?.quit();
    });

    const blocked = () => infoField(raw, 'clients', 'blocked_clients');
    const waitConnections = async () =>
      String(await raw.call('CLIENT', 'LIST', 'TYPE', 'normal'))
        .split('\n')
        .filter((line) => line.includes('name=proxy-connector-redis-wait')).length;

    test('batches are one command each: putBatch one MSET, getBatch one MGET, evictBatch one DEL', async () => {
      // A private server, so its command counters see only this test.
      const own = redis();
      const stats = raw;
      await stats.flushall();
      {
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
      }
    });

    test('an ACL user limited to ~app:* can put, waitFor/set, evict and evictBatch (the signal list is inside the prefix)', async () => {
      await raw.acl('SETUSER', 'app-user', 'reset', 'on', '>app-pw', '~app:*', '+@all');
      try {
        // The ACL bites: the old signal name outside the prefix is refused to this user.
        const limited = new Redis(redis().url, { username: 'app-user', password: 'app-pw' });
        await expect(limited.rpush('{app:x}:ready', '1')).rejects.toThrow(/NOPERM/);
        await limited.quit();

        await using connector = new RedisConnector({
          url: redis().url,
          username: 'app-user',
          password: 'app-pw',
          keyPrefix: 'app:',
          ttlSeconds: 60,
        });
        const put = await connector.put(Buffer.from('put'));
        const parts = await connector.putParts([Buffer.from('BS\n'), Buffer.from('parts')]);
        const batch = await connector.putBatch([Buffer.from('b0'), Buffer.from('b1')]);
        expect(
          (await connector.getBatch([put, parts, ...batch])).map((v) => Buffer.from(v!).toString()),
        ).toEqual(['put', 'BS\nparts', 'b0', 'b1']);

        const key = await connector.newKey();
        const waiting = connector.waitFor(key, { timeoutMs: 10_000 });
        await until('the waiter blocked', async () => (await blocked()) >= 1);
        await connector.set(key, Buffer.from('deferred'));
        await expect(waiting).resolves.toBeUndefined();
        await expect(connector.waitFor(key, { timeoutMs: 1000 })).resolves.toBeUndefined();
        expect(await raw.exists(`app:{${key.redisKey}}:ready`)).toBe(1);
        await connector.evict(key);
        expect(await raw.exists(key.redisKey, `app:{${key.redisKey}}:ready`)).toBe(0);

        const again = await connector.newKey();
        await connector.set(again, Buffer.from('again'));
        await connector.evictBatch([put, parts, ...batch, again]);
        expect(await raw.keys('app:*')).toEqual([]);
      } finally {
        await raw.acl('DELUSER', 'app-user');
      }
    });

    test('waitFor does not poll: three blocked waiters cost no server command over 1.2 s', async () => {
      await using writer = new RedisConnector({ url: redis().url });
      await using reader = new RedisConnector({ url: redis().url });
      const key = await writer.newKey();
      const waiters = Array.from({ length: 3 }, () => reader.waitFor(key, { timeoutMs: 20_000 }));
      await until('three waiters blocked', async () => (await blocked()) >= 3);
      const before = await infoField(raw, 'stats', 'total_commands_processed');
      await sleep(1200);
      const after = await infoField(raw, 'stats', 'total_commands_processed');
      // The only command in the window is the first INFO itself (counted once it ran).
      expect(after - before).toBeLessThanOrEqual(2);
      await writer.set(key, Buffer.from('ready'));
      await expect(Promise.all(waiters)).resolves.toEqual([undefined, undefined, undefined]);
      await writer.evict(key);
    });

    test('aborting a waitFor while BLMOVE is blocked rejects at once with the reason and unblocks the server', async () => {
      await using connector = new RedisConnector({ url: redis().url });
      const key = await connector.newKey();
      const controller = new AbortController();
      const waiting = connector.waitFor(key, { signal: controller.signal });
      const outcome = waiting.then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await until('the waiter blocked', async () => (await blocked()) >= 1);
      const reason = new Error('caller gave up');
      const started = Date.now();
      controller.abort(reason);
      expect(await outcome).toBe(reason);
      expect(Date.now() - started).toBeLessThan(200);
      await until('no blocked client left', async () => (await blocked()) === 0, 1000);
      expect(await waitConnections()).toBe(0);
    });

    test('close() ends a pending waitFor with ConnectorError and leaves no blocked client', async () => {
      const connector = new RedisConnector({ url: redis().url });
      const key = await connector.newKey();
      const waiting = connector.waitFor(key);
      await until('the waiter blocked', async () => (await blocked()) === 1);
      await connector.close();
      await expect(waiting).rejects.toBeInstanceOf(ConnectorError);
      await expect(connector.put(Buffer.from('x'))).rejects.toThrow(/after close\(\)/);
      await until('no blocked client left', async () => (await blocked()) === 0, 1000);
    });

    test.each([
      ['in the same tick', 0],
      ['2 ms later', 2],
      ['10 ms later', 10],
    ])(
      'close() %s ends 20 waits at any step (before EXISTS returns, while connecting, blocked) with ConnectorError',
      async (_when, delayMs) => {
        const injected = new Redis(redis().url);
        try {
          const own = new RedisConnector({ url: redis().url });
          const borrowed = new RedisConnector({ client: injected });
          for (const connector of [own, borrowed]) {
            await connector.exists({ redisKey: 'warm-up' }); // a ready client: close() QUITs it
            const keys = await Promise.all(Array.from({ length: 20 }, () => connector.newKey()));
            const outcomes = keys.map((key) =>
              connector.waitFor(key).then(
                () => 'resolved',
                (e: unknown) => e,
              ),
            );
            if (delayMs) await sleep(delayMs);
            const closing = connector.close();
            const started = Date.now();
            const settled = await Promise.race([
              Promise.all(outcomes),
              sleep(2000).then(() => 'still pending after 2 s'),
            ]);
            expect(Date.now() - started).toBeLessThan(1000);
            expect(Array.isArray(settled)).toBe(true);
            for (const outcome of settled as unknown[]) {
              expect(outcome).toBeInstanceOf(ConnectorError);
              expect((outcome as Error).message).toMatch(/waitFor|close/);
            }
            await closing;
          }
          expect(injected.status).toBe('ready');
          // No dedicated connection is left blocking, or opened after the close.
          await sleep(100);
          await until('no blocked client left', async () => (await blocked()) === 0, 1000);
          expect(await waitConnections()).toBe(0);
        } finally {
          await injected.quit();
        }
      },
    );
  },
  { private: true },
);
