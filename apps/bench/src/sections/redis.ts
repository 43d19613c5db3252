import { RedisConnector } from '@proxy/connector-redis';
import { startRedisServer } from '@proxy/connector-test-suite';
import { resolve, resolveSync, Store, stopSyncBridge } from '@proxy/core';
import { Redis } from 'ioredis';
import { comparePutGet, type Report, type Step, timeInterleaved } from '../report.js';

interface Case {
  label: string;
  bytes: number;
  runs: number;
}

const CASES: Case[] = [
  { label: '1 KB', bytes: 1024, runs: 2000 },
  { label: '1 MB', bytes: 1024 * 1024, runs: 300 },
  { label: '10 MB', bytes: 10 * 1024 * 1024, runs: 60 },
  { label: '100 MB', bytes: 100 * 1024 * 1024, runs: 11 },
];

/**
 * put+get through a Store over RedisConnector against raw ioredis set/getBuffer on the same
 * private server; a 1,000 x 1 KB batch against a raw pipeline; and the first synchronous use
 * of an unresolved 10 MB proxy (core's worker bridge) against `await resolve(p)`.
 */
export default async function redis(report: Report): Promise<void> {
  const server = await startRedisServer();
  console.log(`  redis-server at ${server.url}`);
  const raw = new Redis(server.url);
  const connector = new RedisConnector({ url: server.url });
  // No cache: every get goes to Redis, as a consumer in another process would.
  const store = new Store('bench-redis', connector, { cacheSize: 0 });
  let n = 0;
  try {
    for (const c of CASES) {
      const data = Buffer.alloc(c.bytes, 'proxystore');
      const rawStep: Step = async () => {
        const key = `raw-${n++}`;
        await raw.set(key, data);
        await raw.getBuffer(key);
        return () => raw.del(key);
      };
      await comparePutGet(report, {
        section: 'redis',
        label: c.label,
        bytes: c.bytes,
        runs: c.runs,
        data,
        raw: rawStep,
        store,
        connector,
        smallAllowanceUs: 30,
        connectorName: 'RedisConnector',
      });
    }

    const items = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(1024, `item-${i}`));
    const rawBatch: Step = async () => {
      const names = items.map(() => `raw-${n++}`);
      const write = raw.pipeline();
      names.forEach((name, i) => {
        write.set(name, items[i]!);
      });
      await write.exec();
      const read = raw.pipeline();
      for (const name of names) read.getBuffer(name);
      await read.exec();
      return () => raw.del(...names);
    };
    const storeBatch: Step = async () => {
      const keys = await store.putBatch(items);
      const got = await connector.getBatch(keys as { redisKey: string }[]);
      for (const bytes of got) if (bytes) store.deserializer(bytes);
      return () => connector.evictBatch(keys as { redisKey: string }[]);
    };
    const [rawBatchMs, storeBatchMs] = await timeInterleaved(
      'redis batch',
      [rawBatch, storeBatch],
      40,
    );
    report.add({
      section: 'redis',
      case: 'batch 1,000 x 1 KB put+get (Store.putBatch + getBatch)',
      ours: storeBatchMs!,
      raw: rawBatchMs!,
      unit: 'ms',
      target: '<= 1.2x raw pipeline',
      met: storeBatchMs! <= 1.2 * rawBatchMs!,
      note: 'ours: one MSET + one MGET; raw: a pipeline of 1,000 SET then 1,000 GET',
    });

    const big = new Float64Array((10 * 1024 * 1024) / 8).map((_, i) => i);
    const key = await store.put(big);
    const bridgeStart = performance.now();
    resolveSync(store.proxyFromKey<Float64Array>(key));
    const bridgeStartMs = performance.now() - bridgeStart;
    const syncStep: Step = async () => {
      const p = store.proxyFromKey<Float64Array>(key);
      // First synchronous use of an unresolved proxy: blocks on core's worker bridge.
      if (p.length !== big.length) throw new Error('sync bridge returned the wrong value');
      return async () => {};
    };
    const awaitStep: Step = async () => {
      const p = store.proxyFromKey<Float64Array>(key);
      await resolve(p);
      if (p.length !== big.length) throw new Error('resolve returned the wrong value');
      return async () => {};
    };
    const [syncMs, awaitMs] = await timeInterleaved('redis sync bridge', [syncStep, awaitStep], 60);
    report.add({
      section: 'redis',
      case: 'first sync use of an unresolved 10 MB proxy (worker bridge) vs await resolve(p)',
      ours: syncMs!,
      raw: awaitMs!,
      unit: 'ms',
      target: '<= await resolve(p)',
      met: syncMs! <= awaitMs!,
      note: `bridge worker start-up (once per process, not in the median): ${bridgeStartMs.toFixed(0)} ms`,
    });
    await store.evict(key);
  } finally {
    await store.close();
    await raw.quit();
    await stopSyncBridge();
    await server.stop();
  }
}
