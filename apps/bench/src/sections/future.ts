import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileConnector } from '@proxy/connector-file';
import { RedisConnector } from '@proxy/connector-redis';
import { redisServerAvailable, startRedisServer } from '@proxy/connector-test-suite';
import { deserialize, getStore, registeredStores, Store, serialize } from '@proxy/core';
import { Future } from '@proxy/future';
import { Redis } from 'ioredis';
import { median, progress, type Report } from '../report.js';

// Latency from `setResult` in this process to a consumer that is already waiting in another
// process waking up. Both clocks are CLOCK_MONOTONIC (process.hrtime), which is one clock for
// every process on the machine, so the child's wake-up time and our start time compare directly.

const RUNS = 100;
const WARMUP = 5;
/** Time the consumer gets to be really blocked before we set the value. */
const SETTLE_MS = 20;
const TARGET_MS = 5;
const CONSUMER_ENV = 'PROXY_BENCH_FUTURE_CONSUMER';

type Request =
  | { kind: 'result' | 'proxy'; payload: string }
  | { kind: 'raw-redis'; url: string; list: string }
  | { kind: 'raw-file'; dir: string; name: string }
  | { kind: 'exit' };
type Reply = { kind: 'ready' } | { kind: 'woke'; at: string } | { kind: 'error'; message: string };

const now = () => process.hrtime.bigint().toString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The consumer side, run in a forked copy of this module. */
function consumer(): void {
  let raw: Redis | undefined;
  const send = (reply: Reply) => process.send!(reply);
  process.on('message', async (request: Request) => {
    try {
      if (request.kind === 'exit') {
        raw?.disconnect();
        for (const name of registeredStores()) await getStore(name)?.close();
        process.exit(0);
      } else if (request.kind === 'result') {
        const { value } = deserialize(Buffer.from(request.payload, 'base64')) as {
          value: Future<{ i: number }>;
        };
        const waiting = value.result({ timeoutMs: 10_000 });
        send({ kind: 'ready' });
        await waiting;
        send({ kind: 'woke', at: now() });
      } else if (request.kind === 'proxy') {
        const { value } = deserialize(Buffer.from(request.payload, 'base64')) as {
          value: { i: number };
        };
        send({ kind: 'ready' });
        await sleep(1); // let the IPC message out before this thread blocks
        if (value.i < 0) throw new Error('unexpected value');
        send({ kind: 'woke', at: now() });
      } else if (request.kind === 'raw-redis') {
        raw ??= new Redis(request.url);
        const waiting = raw.blpop(request.list, 10);
        send({ kind: 'ready' });
        await waiting;
        send({ kind: 'woke', at: now() });
      } else if (request.kind === 'raw-file') {
        const watcher = fs.watch(request.dir, (_event, filename) => {
          if (filename === request.name) {
            send({ kind: 'woke', at: now() });
            watcher.close();
          }
        });
        send({ kind: 'ready' });
      }
    } catch (error) {
      send({ kind: 'error', message: String((error as Error)?.message ?? error) });
    }
  });
}

if (process.env[CONSUMER_ENV] === '1') consumer();

class Consumer {
  private readonly child: ChildProcess;
  private readonly inbox: Reply[] = [];
  private wake: (() => void) | undefined;

  constructor() {
    const self = path.join(path.dirname(path.resolve(process.argv[1]!)), 'sections', 'future.js');
    this.child = fork(self, [], { env: { ...process.env, [CONSUMER_ENV]: '1' }, stdio: 'inherit' });
    this.child.on('message', (reply: Reply) => {
      this.inbox.push(reply);
      this.wake?.();
    });
  }

  async reply(kind: Reply['kind']): Promise<Reply> {
    for (;;) {
      const next = this.inbox.shift();
      if (next?.kind === 'error') throw new Error(`consumer failed: ${next.message}`);
      if (next) {
        if (next.kind !== kind) throw new Error(`consumer sent ${next.kind}, expected ${kind}`);
        return next;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** One measurement: arm the consumer, wait until it blocks, fire, return ms to wake-up. */
  async once(request: Request, fire: () => Promise<unknown> | unknown): Promise<number> {
    this.child.send(request);
    await this.reply('ready');
    await sleep(SETTLE_MS);
    const start = process.hrtime.bigint();
    await fire();
    const woke = (await this.reply('woke')) as { at: string };
    return Number(BigInt(woke.at) - start) / 1e6;
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ kind: 'exit' });
    await exited;
  }
}

async function series(label: string, run: (i: number) => Promise<number>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const ms = await run(i);
    if (i >= WARMUP) times.push(ms);
    progress(label, i + 1, WARMUP + RUNS);
  }
  return median(times);
}

const encode = (value: unknown) => Buffer.from(serialize({ value })).toString('base64');

/** Future wake-ups (result() and a blocking proxy) on `store`, against the raw client's wake-up. */
async function measureStore(
  report: Report,
  name: string,
  store: Store,
  consumer: Consumer,
  raw: { label: string; run: (i: number) => Promise<number> },
): Promise<void> {
  const rawMs = await series(`${name} raw`, raw.run);
  for (const kind of ['result', 'proxy'] as const) {
    const ms = await series(`${name} ${kind}`, async (i) => {
      const future = await Future.create<{ i: number }>(store);
      const payload = encode(kind === 'result' ? future : future.proxy());
      const ms = await consumer.once({ kind, payload }, () => future.setResult({ i }));
      await store.evict(future.key);
      return ms;
    });
    report.add({
      section: 'future',
      case: `${name}: setResult -> ${kind === 'result' ? 'await future.result()' : 'blocking proxy use'} wakes in another process (median of ${RUNS})`,
      ours: ms,
      raw: rawMs,
      unit: 'ms',
      target: `<= ${TARGET_MS} ms`,
      met: ms <= TARGET_MS,
      note: `raw: ${raw.label}`,
    });
  }
}

export default async function future(report: Report): Promise<void> {
  const consumer = new Consumer();
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-bench-future-'));
    const fileStore = new Store(
      'bench-future-file',
      new FileConnector({ storeDir: dir, clear: 'all' }),
    );
    try {
      await measureStore(report, 'file', fileStore, consumer, {
        label: 'fs.watch in the consumer, fs.writeFileSync here',
        run: (i) => {
          const name = `raw-${i}`;
          return consumer.once({ kind: 'raw-file', dir, name }, () =>
            fs.writeFileSync(path.join(dir, name), 'x'),
          );
        },
      });
    } finally {
      await fileStore.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }

    if (!redisServerAvailable()) {
      console.log('  future | redis skipped: redis-server is not installed');
      return;
    }
    const server = await startRedisServer();
    const redisStore = new Store('bench-future-redis', new RedisConnector({ url: server.url }));
    const producer = new Redis(server.url);
    try {
      await measureStore(report, 'redis', redisStore, consumer, {
        label: 'ioredis BLPOP in the consumer, LPUSH here',
        run: (i) =>
          consumer.once({ kind: 'raw-redis', url: server.url, list: `raw-${i}` }, () =>
            producer.lpush(`raw-${i}`, 'x'),
          ),
      });
    } finally {
      producer.disconnect();
      await redisStore.close();
      await server.stop();
    }
  } finally {
    await consumer.close();
  }
}
