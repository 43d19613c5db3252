import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileConnector } from '@proxy/connector-file';
import {
  type RedisServer,
  redisServerAvailable,
  startRedisServer,
} from '@proxy/connector-test-suite';
import { Store } from '@proxy/core';
import {
  type Executor,
  InlineExecutor,
  ProcessPoolExecutor,
  ProxyAlways,
  StoreExecutor,
  task,
  WorkerPoolExecutor,
} from '@proxy/executor';
import { BullMQExecutor, startWorker } from '@proxy/executor/bullmq';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { median, progress, type Report } from '../report.js';

// Round trip of a task whose input is a 10 MB Buffer (it returns the length), by value and
// by proxy (FileConnector), on each executor; then 100 tasks sharing one proxied input.

const TEN_MB = 10 * 1024 * 1024;
const RUNS = 20;
const SHARED_TASKS = 100;

// Task modules as data: URLs, so the benchmark needs no files of its own. The shared-input
// task imports core by its resolved file URL: the same module instance the worker uses.
const coreUrl = pathToFileURL(
  createRequire(path.join(process.cwd(), 'x.js')).resolve('@proxy/core'),
).href;
const source = `
import { threadId } from 'node:worker_threads';
import { getFactory, getStore } from '${coreUrl}';
export function length(buf) { return buf.length; }
export function where(input) {
  const key = getFactory(input).key;
  const cached = getStore(input).isCached(key);
  return { worker: process.pid + ':' + threadId, cached, length: input.length };
}`;
const tasksUrl = `data:text/javascript,${encodeURIComponent(source)}`;
const length = task<(buf: Buffer) => number>(tasksUrl, 'length');
const where = task<(input: Buffer) => { worker: string; cached: boolean; length: number }>(
  tasksUrl,
  'where',
);

async function medianOf(label: string, run: () => Promise<unknown>): Promise<number> {
  await run(); // warm-up: threads, children, module loads
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const n = await run();
    times.push(performance.now() - t);
    if (Number(n) !== TEN_MB) throw new Error(`${label}: task returned ${n}, expected ${TEN_MB}`);
    progress(label, i + 1, RUNS);
  }
  return median(times);
}

function fileStore(name: string): { store: Store; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-executor-'));
  return {
    store: new Store(name, new FileConnector({ storeDir: dir })),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

async function compare(
  report: Report,
  name: string,
  executor: Executor,
  byValue: () => Promise<number>,
  target?: { text: string; ratio: number },
): Promise<void> {
  const { store, cleanup } = fileStore(`bench-executor-${name}`);
  const proxied = new StoreExecutor(executor, store, {
    shouldProxy: ProxyAlways,
    closeStore: true,
  });
  const big = Buffer.alloc(TEN_MB, 1);
  try {
    const raw = await medianOf(`${name} by value`, byValue);
    const ours = await medianOf(`${name} proxied`, () => proxied.submit(length, big));
    report.add({
      section: 'executor',
      case: `${name}: 10 MB input proxied (raw = by value)`,
      ours,
      raw,
      unit: 'ms',
      ...(target ? { target: target.text, met: raw / ours >= target.ratio } : {}),
      note: `by value / proxied = ${(raw / ours).toFixed(2)}x`,
    });
  } finally {
    await proxied.shutdown();
    cleanup();
  }
}

async function sharedInput(report: Report): Promise<void> {
  const { store, cleanup } = fileStore('bench-executor-shared');
  const threads = 2;
  const executor = new StoreExecutor(new WorkerPoolExecutor({ maxThreads: threads }), store, {
    closeStore: true,
  });
  const big = Buffer.alloc(TEN_MB, 2);
  try {
    const input = await store.proxy(big);
    // Warm-up: start the threads and load the task module before timing.
    await Promise.all(
      Array.from({ length: threads }, () => executor.submit(length, Buffer.alloc(1))),
    );
    const t = performance.now();
    let done = 0;
    const runs = await Promise.all(
      Array.from({ length: SHARED_TASKS }, () =>
        executor.submit(where, input).then((r) => {
          progress('shared input', ++done, SHARED_TASKS);
          return r;
        }),
      ),
    );
    const ours = performance.now() - t;
    const t2 = performance.now();
    await Promise.all(Array.from({ length: SHARED_TASKS }, () => executor.submit(length, big)));
    const raw = performance.now() - t2;
    const fetches = new Map<string, number>();
    for (const r of runs) if (!r.cached) fetches.set(r.worker, (fetches.get(r.worker) ?? 0) + 1);
    const maxFetches = Math.max(0, ...fetches.values());
    report.add({
      section: 'executor',
      case: `worker pool (${threads} threads): ${SHARED_TASKS} tasks sharing one proxied 10 MB input (raw = each by value)`,
      ours,
      raw,
      unit: 'ms',
      target: 'fetched <= once per worker',
      met: maxFetches <= 1,
      note: `fetches per worker: ${JSON.stringify(Object.fromEntries(fetches))}`,
    });
  } finally {
    await executor.shutdown();
    cleanup();
  }
}

async function bullmq(report: Report): Promise<void> {
  if (!redisServerAvailable() && !process.env.REDIS_URL) {
    console.log('  executor | bullmq: skipped (no redis-server on PATH and no REDIS_URL)');
    return;
  }
  const redis: RedisServer = await startRedisServer();
  const connection = { host: redis.host, port: redis.port, maxRetriesPerRequest: null };
  const worker = startWorker({ queueName: 'bench-executor', connection });
  // The raw baseline: what a BullMQ user does without proxies, the bytes base64 in the job.
  const rawQueue = new Queue('bench-raw', { connection });
  const rawWorker = new Worker(
    'bench-raw',
    async (job) => Buffer.from(job.data.buf as string, 'base64').length,
    { connection },
  );
  const rawEvents = new QueueEvents('bench-raw', { connection });
  try {
    await Promise.all([
      worker.waitUntilReady(),
      rawWorker.waitUntilReady(),
      rawEvents.waitUntilReady(),
    ]);
    const big = Buffer.alloc(TEN_MB, 1);
    const byValue = async () => {
      const job = await rawQueue.add(
        'length',
        { buf: big.toString('base64') },
        { removeOnComplete: true },
      );
      return (await job.waitUntilFinished(rawEvents)) as number;
    };
    await compare(
      report,
      'bullmq',
      new BullMQExecutor({ queueName: 'bench-executor', connection }),
      byValue,
      {
        text: 'proxied >= 10x faster than by value',
        ratio: 10,
      },
    );
  } finally {
    await Promise.all([worker.close(), rawWorker.close(), rawEvents.close(), rawQueue.close()]);
    await redis.stop();
  }
}

export default async function executorSection(report: Report): Promise<void> {
  const big = Buffer.alloc(TEN_MB, 1);
  const inline = new InlineExecutor();
  await compare(report, 'inline', inline, () => inline.submit(length, big));
  const pool = new WorkerPoolExecutor({ maxThreads: 2 });
  await compare(report, 'worker pool', pool, () => pool.submit(length, big));
  const processes = new ProcessPoolExecutor({ size: 2 });
  await compare(report, 'process pool', processes, () => processes.submit(length, big));
  await sharedInput(report);
  await bullmq(report);
}
