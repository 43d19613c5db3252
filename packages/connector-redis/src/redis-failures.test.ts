import { describeWithRedis, type RedisServer } from '@proxy/connector-test-suite';
import { ConnectorError } from '@proxy/core';
import { Redis } from 'ioredis';
import { RedisConnector } from './redis-connector.js';

function value(i: number, size: number): Buffer {
  return Buffer.alloc(size, `${i}:`);
}

/**
 * Counts connection drops of `connector` that cut an operation short: the connection closed
 * while one of the operations passed to `track` was still waiting for its reply.
 */
function cutCounter(connector: RedisConnector) {
  const pending = new Set<Promise<unknown>>();
  const counts = { drops: 0, cuts: 0 };
  connector.client.on('close', () => {
    counts.drops++;
    if (pending.size > 0) counts.cuts++;
  });
  return {
    counts,
    track<T>(operation: Promise<T>): Promise<T> {
      pending.add(operation);
      const done = () => pending.delete(operation);
      operation.then(done, done);
      return operation;
    },
  };
}

// Private: these tests stop, pause and restart the server (REDIS_URL cannot stand in for it).
describeWithRedis(
  'RedisConnector when the server fails',
  (redis) => {
    let server: RedisServer;

    beforeEach(() => {
      server = redis();
    });

    afterEach(async () => {
      // The next test gets a fresh, empty server on the same port.
      await server.restart!();
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
      // The client reconnects on its own (backoff capped at reconnectMaxDelayMs, 1 s): no new
      // connector, and the first operation, issued at once, waits in ioredis's queue for the
      // reconnection and succeeds.
      const restarted = Date.now();
      const after = await connector.put(Buffer.from('after'));
      expect(Date.now() - restarted).toBeLessThan(1500);
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
      const { counts, track } = cutCounter(connector);
      let rounds = 0;
      try {
        // At least 12 rounds, and on until a kill really landed while a batch was in flight.
        for (; rounds < 12 || (counts.cuts === 0 && rounds < 100); rounds++) {
          const round = rounds;
          const reading = track(connector.getBatch(keys));
          const writing = track(connector.putBatch(values.slice(0, 200)));
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
        expect(outcomes.ok + outcomes.failed).toBe(2 * rounds);
        // Every round dropped the connector's connection, and some drop cut a batch short.
        expect(counts.drops).toBeGreaterThanOrEqual(rounds);
        expect(counts.cuts).toBeGreaterThanOrEqual(1);
        // Killed or not, the connector keeps working.
        const again = await connector.getBatch(keys.slice(0, 3));
        expect(again.every((got, i) => got !== null && Buffer.from(got).equals(values[i]!))).toBe(
          true,
        );
      } finally {
        await raw.quit();
      }
    });

    test('CLIENT KILL during concurrent 1 MB putParts with TTL: every resolved key holds exactly its bytes', async () => {
      const raw = new Redis(server.url);
      await using connector = new RedisConnector({ url: server.url, ttlSeconds: 60 });
      const header = Buffer.from('BS\n');
      const { counts, track } = cutCounter(connector);
      let stored = 0;
      let failed = 0;
      try {
        for (let round = 0; round < 4 || (counts.cuts === 0 && round < 40); round++) {
          const payloads = Array.from({ length: 12 }, (_, i) =>
            Buffer.alloc(1024 * 1024, `${round}/${i}:`),
          );
          const puts = payloads.map((p) => track(connector.putParts([header, p])));
          await new Promise((r) => setTimeout(r, round % 3));
          await raw.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
          const results = await Promise.allSettled(puts);
          for (const [i, result] of results.entries()) {
            if (result.status === 'rejected') {
              expect(result.reason).toBeInstanceOf(ConnectorError);
              failed++;
              continue;
            }
            const got = await raw.getBuffer(result.value.redisKey);
            expect(got?.length).toBe(header.length + payloads[i]!.length);
            expect(got!.subarray(0, header.length).equals(header)).toBe(true);
            expect(got!.subarray(header.length).equals(payloads[i]!)).toBe(true);
            const pttl = await raw.pttl(result.value.redisKey);
            expect(pttl).toBeGreaterThan(0);
            expect(pttl).toBeLessThanOrEqual(60_000);
            stored++;
          }
          await raw.flushall();
        }
        expect(counts.cuts).toBeGreaterThanOrEqual(1);
        expect(stored).toBeGreaterThan(0);
        expect(stored + failed).toBeGreaterThanOrEqual(48);
      } finally {
        await raw.quit();
      }
    });
  },
  { private: true },
);

describeWithRedis(
  'RedisConnector with AUTH',
  (redis) => {
    test('a password authenticates; a missing one is a ConnectorError naming the address', async () => {
      const server = redis();
      await using good = new RedisConnector({ url: server.url, password: 'secret-pw' });
      const key = await good.put(Buffer.from('authed'));
      expect(Buffer.from((await good.get(key))!).toString()).toBe('authed');
      await using bad = new RedisConnector({ url: server.url, maxRetriesPerRequest: 0 });
      const error = await bad.get(key).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectorError);
      expect((error as Error).message).toContain(`127.0.0.1:${server.port}`);
      expect((error as Error).message).toMatch(/NOAUTH|auth/i);
      expect((error as Error).message).not.toContain('secret-pw');
    });
  },
  { private: true, args: ['--requirepass', 'secret-pw'] },
);
