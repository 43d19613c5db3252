#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { connectionFromUrl, DEFAULT_QUEUE_NAME } from './bullmq-payload.js';
import { startWorker } from './bullmq-worker.js';

const USAGE = `proxy-executor-worker: run @proxy/executor tasks from a BullMQ queue in this process.

  --redis URL               redis://[user:pass@]host:port[/db] (default $REDIS_URL or redis://127.0.0.1:6379)
  --queue NAME              queue name (default "${DEFAULT_QUEUE_NAME}")
  --prefix PREFIX           BullMQ key prefix (default "bull")
  --concurrency N           jobs at once (default 1)
  --lock-duration MS        BullMQ lockDuration: how soon a dead worker's job counts as stalled
  --stalled-interval MS     BullMQ stalledInterval: how often this worker checks for stalled jobs
  --max-stalled-count N     BullMQ maxStalledCount: stalls before a job fails (0: fail at once)

Task modules are imported by absolute path, file: URL, or package name resolved from the
working directory; connector packages named by proxies must be installed there too.`;

function int(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new TypeError(`--${name} must be a non-negative integer, got "${value}"`);
  return n;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      redis: { type: 'string' },
      queue: { type: 'string' },
      prefix: { type: 'string' },
      concurrency: { type: 'string' },
      'lock-duration': { type: 'string' },
      'stalled-interval': { type: 'string' },
      'max-stalled-count': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const url = values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const queueName = values.queue ?? DEFAULT_QUEUE_NAME;
  const concurrency = int('concurrency', values.concurrency) ?? 1;
  const lockDuration = int('lock-duration', values['lock-duration']);
  const stalledInterval = int('stalled-interval', values['stalled-interval']);
  const maxStalledCount = int('max-stalled-count', values['max-stalled-count']);
  const worker = startWorker({
    queueName,
    connection: connectionFromUrl(url),
    concurrency,
    ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
    workerOptions: {
      ...(lockDuration !== undefined ? { lockDuration } : {}),
      ...(stalledInterval !== undefined ? { stalledInterval } : {}),
      ...(maxStalledCount !== undefined ? { maxStalledCount } : {}),
    },
  });
  worker.on('error', (error) => console.error(`proxy-executor-worker: ${error.message}`));
  await worker.waitUntilReady();
  console.log(
    `proxy-executor-worker: queue "${queueName}" on ${redact(url)}, concurrency ${concurrency}, pid ${process.pid}: ready`,
  );
  const stop = () => {
    worker.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`proxy-executor-worker: ${(error as Error).message}`);
  process.exit(1);
});
