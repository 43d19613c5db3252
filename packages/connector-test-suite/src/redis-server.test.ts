import { freePort } from './net.js';
import {
  REDIS_INSTALL_HINT,
  redisClusterAvailable,
  redisCommand,
  redisServerAvailable,
  startRedisCluster,
  startRedisServer,
} from './redis-server.js';
import { describeWithService } from './service.js';

describeWithService(
  'redis-server',
  redisServerAvailable(),
  REDIS_INSTALL_HINT,
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
  'redis-server',
  redisClusterAvailable(),
  REDIS_INSTALL_HINT,
  'startRedisCluster',
  () => {
    test('joins 3 masters covering all 16384 slots, and stops them all', async () => {
      const cluster = await startRedisCluster({ masters: 3 });
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
