// S3: put+get of a Buffer through a Store on S3Connector against raw PutObject/GetObject with
// an identically configured S3Client, on the same server in the same run. The server is
// s3rver (npm) in a child process, or the one named by S3_BENCH_ENDPOINT/S3_BENCH_BUCKET.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3Connector, type S3ConnectorOptions } from '@proxy/connector-s3';
import { freePort } from '@proxy/connector-test-suite';
import { Store } from '@proxy/core';
import { median, progress, type Report } from '../report.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

interface Server {
  options: S3ConnectorOptions;
  stop(): Promise<void>;
}

async function startS3rver(): Promise<Server> {
  const pkg = createRequire(path.resolve(process.argv[1]!)).resolve(
    '@proxy/connector-s3/package.json',
  );
  const child = path.join(path.dirname(pkg), 'src', 'fixtures', 's3rver-child.cjs');
  // tmpfs when there is one: the benchmark is about the client, not the server's disk.
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const directory = fs.mkdtempSync(path.join(base, 'proxy-bench-s3rver-'));
  const port = await freePort();
  const bucket = 'proxy-bench';
  const proc: ChildProcess = spawn(process.execPath, [child, String(port), directory, bucket], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('READY')) resolve();
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  console.log(`  s3rver at ${endpoint} (${directory})`);
  return {
    options: {
      bucket,
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    },
    stop: async () => {
      proc.removeAllListeners('exit');
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function serverFromEnv(): Promise<Server | undefined> {
  const endpoint = process.env.S3_BENCH_ENDPOINT;
  const bucket = process.env.S3_BENCH_BUCKET;
  if (!endpoint || !bucket) return undefined;
  console.log(`  using ${endpoint} bucket ${bucket} (credentials from the SDK chain)`);
  return { options: { bucket, endpoint, prefix: 'proxy-bench/' }, stop: async () => {} };
}

interface Case {
  label: string;
  bytes: number;
  runs: number;
  /** Force a multipart upload (informational: raw stays a single PutObject). */
  multipart?: boolean;
}

const CASES: Case[] = [
  { label: '1 KB', bytes: 1024, runs: 200 },
  { label: '1 MB', bytes: 1024 * 1024, runs: 100 },
  { label: '64 MB', bytes: 64 * 1024 * 1024, runs: 11 },
  { label: '64 MB', bytes: 64 * 1024 * 1024, runs: 5, multipart: true },
];

export default async function s3(report: Report): Promise<void> {
  const server = (await serverFromEnv()) ?? (await startS3rver());
  const connector = new S3Connector(server.options);
  const store = new Store(`bench-s3-${randomUUID()}`, connector, { cacheSize: 0 });
  const multipartConnector = new S3Connector({
    ...server.options,
    multipartThresholdBytes: 16 * 1024 * 1024,
  });
  const multipartStore = new Store(`bench-s3-mp-${randomUUID()}`, multipartConnector, {
    cacheSize: 0,
  });
  const o = connector.config().options as {
    checksums: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
    forcePathStyle: boolean;
    region?: string;
  };
  // The raw baseline: a client configured exactly as the connector configures its own.
  const raw = new S3Client({
    region: o.region,
    endpoint: server.options.endpoint,
    forcePathStyle: o.forcePathStyle,
    credentials: server.options.credentials,
    requestChecksumCalculation: o.checksums,
    responseChecksumValidation: o.checksums,
  });
  const bucket = server.options.bucket;
  const prefix = connector.prefix;
  try {
    for (const c of CASES) {
      const data = Buffer.alloc(c.bytes, 7);
      const s = c.multipart ? multipartStore : store;
      const oursTimes: number[] = [];
      const rawTimes: number[] = [];
      const oursOnce = async () => {
        const t = performance.now();
        const key = await s.put(data);
        const back = await s.get<Buffer>(key);
        const dt = performance.now() - t;
        if (back?.length !== c.bytes)
          throw new Error(`store read back ${back?.length} bytes, expected ${c.bytes}`);
        await s.evict(key);
        return dt;
      };
      const rawOnce = async () => {
        const Key = `${prefix}${randomUUID()}`;
        const t = performance.now();
        await raw.send(new PutObjectCommand({ Bucket: bucket, Key, Body: data }));
        const got = await raw.send(new GetObjectCommand({ Bucket: bucket, Key }));
        const bytes = await got.Body!.transformToByteArray();
        const dt = performance.now() - t;
        if (bytes.length !== c.bytes)
          throw new Error(`raw read back ${bytes.length} bytes, expected ${c.bytes}`);
        await raw.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
        return dt;
      };
      await oursOnce();
      await rawOnce();
      // Alternate which goes first so drift (page cache, GC) hits both alike.
      for (let i = 0; i < c.runs; i++) {
        if (i % 2) {
          rawTimes.push(await rawOnce());
          oursTimes.push(await oursOnce());
        } else {
          oursTimes.push(await oursOnce());
          rawTimes.push(await rawOnce());
        }
        progress(`  s3 ${c.label}`, i + 1, c.runs);
      }
      const ours = median(oursTimes);
      const rawMs = median(rawTimes);
      const gated = c.bytes >= 1024 * 1024 && !c.multipart;
      report.add({
        section: 's3',
        case: c.multipart
          ? `put+get ${c.label}, multipart 8 x 8 MiB (Store vs raw single PutObject/GetObject)`
          : `put+get ${c.label} (Store vs raw PutObject/GetObject)`,
        ours,
        raw: rawMs,
        unit: 'ms',
        target: gated ? '<= 1.10x raw' : undefined,
        met: gated ? ours <= 1.1 * rawMs : undefined,
        note: c.multipart
          ? 'informational: the cost of multipart on this server'
          : 'single PutObject',
      });
    }
  } finally {
    await store.close();
    await multipartStore.close();
    raw.destroy();
    await server.stop();
  }
}
