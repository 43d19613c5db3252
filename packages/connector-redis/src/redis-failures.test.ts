import { once } from 'node:events';
import {
  describeWithService,
  REDIS_INSTALL_HINT,
  type RedisServer,
  redisServerAvailable,
  startRedisServer,
} from '@proxy/connector-test-suite';
import { ConnectorError } from '@proxy/core';
import { Redis } from 'ioredis';
import { RedisConnector } from './redis-connector.js';

function value(i: number, size: number): Buffer {
  return Buffer.alloc(size, `${i}:`);
}

describeWithService(
  'redis-server',
  redisServerAvailable(),
  REDIS_INSTALL_HINT,
  'RedisConnector when the server fails',
  () => {
    let server: RedisServer;

    beforeEach(async () => {
      // Private: these tests stop, pause and restart the server.
      server = await startRedisServer({ private: true });
    });

    afterEach(async () => {
      await server?.stop();
    });

    test('server stopped mid-run: ConnectorError naming the address within the timeout; after restart the same connector works', async () => {
      await using connector = new RedisConnector({
        url: server.url,
        commandTimeoutMs: 2000,
        connectTimeoutMs: 1000,
      });
      const key = await connector.put(Buffer.from('before'));
      await server.stop();
      const started = Date.now();
      const failure = await connector.get(key).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(Date.now() - started).toBeLessThan(2500);
      expect(failure).toBeInstanceOf(ConnectorError);
      expect((failure as Error).message).toContain(`redis://127.0.0.1:${server.port}/0`);
      expect((failure as Error).message).toContain('get (GET)');
      expect((failure as Error).cause).toBeInstanceOf(Error);
      await expect(connector.put(Buffer.from('x'))).rejects.toBeInstanceOf(ConnectorError);
      // A put framed from parts (what Store.put sends for bytes) fails the same way.
      await expect(connector.putParts([Buffer.from('BS\n'), Buffer.from('x')])).rejects.toThrow(
        /RedisConnector \(redis:\/\/127\.0\.0\.1:\d+\/0\): put \(SET\)/,
      );

      await server.restart!();
      // The client reconnects on its own (backoff capped at reconnectMaxDelayMs): no new
      // connector, and the first operation once it is back succeeds.
      if (connector.client.status !== 'ready') await once(connector.client, 'ready');
      const after = await connector.put(Buffer.from('after'));
      expect(Buffer.from((await connector.get(after))!).toString()).toBe('after');
      const parts = await connector.putParts([Buffer.from('BS\n'), Buffer.from('after')]);
      expect(Buffer.from((await connector.get(parts))!).toString()).toBe('BS\nafter');
      // The restarted server is empty: the old key reads as missing, not as an error.
      expect(await connector.get(key)).toBeNull();
    });

    test('a hung server (SIGSTOP) fails the command after commandTimeoutMs instead of hanging', async () => {
      await using connector = new RedisConnector({ url: server.url, commandTimeoutMs: 500 });
      const key = await connector.put(Buffer.from('x'));
      process.kill(server.pid!, 'SIGSTOP');
      try {
        const started = Date.now();
        await expect(connector.get(key)).rejects.toThrow(
          /RedisConnector \(redis:\/\/127\.0\.0\.1:\d+\/0\): get \(GET\).*timed out/,
        );
        expect(Date.now() - started).toBeLessThan(1500);
        await expect(
          connector.putParts([Buffer.from('BS\n'), Buffer.alloc(1024 * 1024)]),
        ).rejects.toThrow(/put \(SET\).*timed out/);
      } finally {
        process.kill(server.pid!, 'SIGCONT');
      }
      expect(Buffer.from((await connector.get(key))!).toString()).toBe('x');
    });

    test('CLIENT KILL mid-batch: each batch is retried or fails with ConnectorError, never returns wrong data', async () => {
      const raw = new Redis(server.url);
      await using connector = new RedisConnector({ url: server.url });
      const size = 4096;
      const values = Array.from({ length: 1000 }, (_, i) => value(i, size));
      const keys = await connector.putBatch(values);
      const outcomes = { ok: 0, failed: 0 };
      let dropped = 0;
      connector.client.on('close', () => dropped++);
      try {
        for (let round = 0; round < 12; round++) {
          const reading = connector.getBatch(keys);
          const writing = connector.putBatch(values.slice(0, 200));
          await new Promise((r) => setTimeout(r, round % 4));
          await raw.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
          const [read, written] = await Promise.allSettled([reading, writing]);
          for (const result of [read, written]) {
            if (result.status === 'rejected') {
              expect(result.reason).toBeInstanceOf(ConnectorError);
              outcomes.failed++;
            } else outcomes.ok++;
          }
          if (read.status === 'fulfilled') {
            expect(read.value).toHaveLength(1000);
            expect(
              read.value.every((got, i) => got !== null && Buffer.from(got).equals(values[i]!)),
            ).toBe(true);
          }
          if (written.status === 'fulfilled') {
            const back = await raw.mgetBuffer(written.value.map((k) => k.redisKey));
            expect(back.every((got, i) => got?.equals(values[i]!) === true)).toBe(true);
            await connector.evictBatch(written.value);
          }
        }
        expect(outcomes.ok + outcomes.failed).toBe(24);
        // Every round really cut the connector's connection.
        expect(dropped).toBeGreaterThanOrEqual(12);
        // Killed or not, the connector keeps working.
        const again = await connector.getBatch(keys.slice(0, 3));
        expect(again.every((got, i) => got !== null && Buffer.from(got).equals(values[i]!))).toBe(
          true,
        );
      } finally {
        await raw.quit();
      }
    });
  },
);

describeWithService(
  'redis-server',
  redisServerAvailable(),
  REDIS_INSTALL_HINT,
  'RedisConnector with AUTH',
  () => {
    test('a password authenticates; a missing one is a ConnectorError naming the address', async () => {
      const server = await startRedisServer({
        private: true,
        args: ['--requirepass', 'secret-pw'],
      });
      try {
        await using good = new RedisConnector({ url: server.url, password: 'secret-pw' });
        const key = await good.put(Buffer.from('authed'));
        expect(Buffer.from((await good.get(key))!).toString()).toBe('authed');
        await using bad = new RedisConnector({ url: server.url, maxRetriesPerRequest: 0 });
        const error = await bad.get(key).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConnectorError);
        expect((error as Error).message).toContain(`127.0.0.1:${server.port}`);
        expect((error as Error).message).toMatch(/NOAUTH|auth/i);
        expect((error as Error).message).not.toContain('secret-pw');
      } finally {
        await server.stop();
      }
    });
  },
);
