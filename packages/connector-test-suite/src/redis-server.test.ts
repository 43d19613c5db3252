import { describeWithRedis } from './describe-with-redis.js';
import { freePort } from './net.js';
import {
  PRIVATE_REDIS_INSTALL_HINT,
  PRIVATE_REDIS_REQUIREMENT,
  redisClusterAvailable,
  redisCommand,
  redisServerAvailable,
  startRedisCluster,
  startRedisServer,
} from './redis-server.js';
import { describeWithService } from './service.js';

/** `body()`'s result with one environment variable set for the duration of the call. */
async function withEnvValue<T>(name: string, value: string, body: () => Promise<T>): Promise<T> {
  let result!: T;
  await withEnv({ [name]: value }, async () => {
    result = await body();
  });
  return result;
}

/** Runs `body` with environment variables set (undefined deletes), restoring them afterwards. */
async function withEnv(vars: Record<string, string | undefined>, body: () => unknown) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  try {
    await body();
  } finally {
    apply(saved);
  }
}

test('tests that need a private server require the binary even with REDIS_URL / REDIS_CLUSTER_NODES set', async () => {
  await withEnv(
    {
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_CLUSTER_NODES: '127.0.0.1:1',
      REDIS_SERVER_BIN: '/nonexistent/redis-server',
    },
    () => {
      expect(redisServerAvailable()).toBe(true);
      expect(redisServerAvailable({ private: true })).toBe(false);
      expect(redisClusterAvailable()).toBe(true);
      expect(redisClusterAvailable({ private: true })).toBe(false);
    },
  );
  // Under CI the missing binary is a failure naming the requirement, REDIS_URL or not.
  await withEnv(
    {
      CI: 'true',
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_SERVER_BIN: '/nonexistent/redis-server',
    },
    () => {
      expect(() => describeWithRedis('never defined', () => {}, { private: true })).toThrow(
        /\[CI\] a private redis-server binary is not available: .*REDIS_URL does not replace it/,
      );
    },
  );
});

test('a borrowed REDIS_URL with an IPv6 literal gives the host without brackets', async () => {
  await withEnv({ REDIS_URL: 'redis://[::1]:6390/2' }, async () => {
    const borrowed = await startRedisServer();
    expect(borrowed).toMatchObject({ external: true, host: '::1', port: 6390 });
    expect(borrowed.url).toBe('redis://[::1]:6390/2');
  });
});

describeWithService(
  PRIVATE_REDIS_REQUIREMENT,
  redisServerAvailable({ private: true }),
  PRIVATE_REDIS_INSTALL_HINT,
  'startRedisServer',
  () => {
    test('starts a private empty server on a free port, restarts it on the same port, and stops it', async () => {
      const server = await startRedisServer({ private: true });
      try {
        expect(server.port).not.toBe(6379);
        expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
        await expect(redisCommand(server.host, server.port, ['PING'])).resolves.toBe('PONG');
        await expect(redisCommand(server.host, server.port, ['SET', 'k', 'v'])).resolves.toBe('OK');
        expect(await redisCommand(server.host, server.port, ['CONFIG', 'GET', 'save'])).toEqual([
          'save',
          '',
        ]);
        expect(
          await redisCommand(server.host, server.port, ['CONFIG', 'GET', 'appendonly']),
        ).toEqual(['appendonly', 'no']);
        const pid = server.pid;
        await server.restart!();
        expect(server.pid).not.toBe(pid);
        await expect(redisCommand(server.host, server.port, ['GET', 'k'])).resolves.toBeNull();
      } finally {
        await server.stop();
      }
      expect(server.pid).toBeUndefined();
      await expect(redisCommand(server.host, server.port, ['PING'], 500)).rejects.toThrow(
        `127.0.0.1:${server.port}`,
      );
    });

    test('REDIS_URL returns the existing server and stop() leaves it running', async () => {
      const real = await startRedisServer({ private: true });
      const saved = process.env.REDIS_URL;
      try {
        process.env.REDIS_URL = real.url;
        const borrowed = await startRedisServer();
        expect(borrowed.external).toBe(true);
        expect(borrowed.port).toBe(real.port);
        expect(borrowed.restart).toBeUndefined();
        await borrowed.stop();
        await expect(redisCommand(real.host, real.port, ['PING'])).resolves.toBe('PONG');
      } finally {
        if (saved === undefined) delete process.env.REDIS_URL;
        else process.env.REDIS_URL = saved;
        await real.stop();
      }
    });

    test('REDIS_SERVER_BIN pointing at a missing binary fails with the binary in the message', async () => {
      const saved = process.env.REDIS_SERVER_BIN;
      process.env.REDIS_SERVER_BIN = '/nonexistent/redis-server';
      try {
        await expect(startRedisServer({ private: true, startTimeoutMs: 2000 })).rejects.toThrow(
          '/nonexistent/redis-server',
        );
      } finally {
        if (saved === undefined) delete process.env.REDIS_SERVER_BIN;
        else process.env.REDIS_SERVER_BIN = saved;
      }
    });

    test('redisCommand reports a refused connection with the address', async () => {
      const port = await freePort();
      await expect(redisCommand('127.0.0.1', port, ['PING'], 500)).rejects.toThrow(
        `127.0.0.1:${port}`,
      );
    });
  },
);

describeWithService(
  PRIVATE_REDIS_REQUIREMENT,
  redisClusterAvailable({ private: true }),
  PRIVATE_REDIS_INSTALL_HINT,
  'startRedisCluster',
  () => {
    test('joins 3 masters covering all 16384 slots, and stops them all', async () => {
      const cluster = await withEnvValue('REDIS_CLUSTER_NODES', '127.0.0.1:1', () =>
        // private: true ignores the borrowed cluster.
        startRedisCluster({ masters: 3, private: true }),
      );
      expect(cluster.external).toBe(false);
      try {
        expect(cluster.nodes).toHaveLength(3);
        for (const node of cluster.nodes) {
          const info = String(await redisCommand(node.host, node.port, ['CLUSTER', 'INFO']));
          expect(info).toContain('cluster_state:ok');
          expect(info).toContain('cluster_slots_assigned:16384');
          expect(info).toContain('cluster_known_nodes:3');
        }
      } finally {
        await cluster.stop();
      }
      for (const node of cluster.nodes) {
        await expect(redisCommand(node.host, node.port, ['PING'], 500)).rejects.toThrow(
          String(node.port),
        );
      }
    });
  },
);
