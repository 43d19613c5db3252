// Test harness: an S3-compatible server (s3rver from npm) in a child process on a free port,
// with its own temporary directory; stopped (and the directory removed) afterwards.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '@proxy/connector-test-suite';
import type { S3ConnectorOptions, S3StaticCredentials } from './s3-connector-options.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** s3rver accepts this access key id (and, not checking V4 signatures, any secret). */
export const S3RVER_CREDENTIALS: S3StaticCredentials = {
  accessKeyId: 'S3RVER',
  secretAccessKey: 'S3RVER',
};

const CHILD = path.join(__dirname, 'fixtures', 's3rver-child.cjs');

function s3rverInstalled(): boolean {
  try {
    require.resolve('s3rver');
    return true;
  } catch {
    return false;
  }
}

export const s3rverAvailable = s3rverInstalled();
export const S3RVER_HINT = 's3rver is a devDependency of @proxy/connector-s3: run `pnpm install`';

export interface S3TestServer {
  readonly endpoint: string;
  readonly port: number;
  /** Where s3rver keeps buckets and objects (`<dir>/<bucket>/...`). */
  readonly directory: string;
  /** The bucket created at start. */
  readonly bucket: string;
  /** "METHOD url status" of every request so far (only with `log: true`). */
  readonly requests: string[];
  /**
   * Resolves once `requests` holds every request answered so far: the log travels through
   * the child's stdout, so it lags the responses a little. Only with `log: true`.
   */
  logged(): Promise<void>;
  /** Connector options for this server; `extra` overrides. */
  options(extra?: Partial<S3ConnectorOptions>): S3ConnectorOptions;
  /** Freezes the server process (SIGSTOP): it accepts connections but never answers. */
  pause(): void;
  resume(): void;
  /** Stops the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartS3ServerOptions {
  /** Buckets to create at start; the first is `bucket`. Default one random name. */
  buckets?: string[];
  /**
   * Key prefixes (folders) to keep non-empty with a `<prefix>.keep` object in `bucket`.
   * s3rver deletes a folder when its last object goes, and a put or delete racing that
   * (concurrent requests in one folder) fails with a 500; a folder that never empties
   * avoids the race. The connector never touches the sentinel (not a uuid key).
   */
  folders?: string[];
  /** Record every request in `requests`. */
  log?: boolean;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

export async function startS3Server(options: StartS3ServerOptions = {}): Promise<S3TestServer> {
  const buckets = options.buckets ?? [`proxy-test-${Math.random().toString(36).slice(2, 10)}`];
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-s3rver-'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CHILD, String(port), directory, buckets.join(','), ...(options.log ? ['--log'] : [])],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const requests: string[] = [];
  const markers = new Map<string, () => void>();
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    const onExit = (code: number | null) =>
      reject(new Error(`s3rver exited (code ${code}) before listening: ${stderr}`));
    child.once('exit', onExit);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buffered += d;
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('READY ')) {
          child.off('exit', onExit);
          resolve();
        } else if (line.startsWith('REQ ')) {
          const marker = /\/__log-marker-([0-9a-f-]+) /.exec(line);
          if (marker) markers.get(marker[1]!)?.();
          else requests.push(line.slice(4));
        }
        nl = buffered.indexOf('\n');
      }
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  if (options.folders?.length) {
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    try {
      for (const folder of options.folders) {
        await client.send(
          new PutObjectCommand({
            Bucket: buckets[0],
            Key: `${folder}.keep`,
            Body: Buffer.alloc(0),
            ContentLength: 0,
          }),
        );
      }
    } finally {
      client.destroy();
    }
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    port,
    directory,
    bucket: buckets[0]!,
    requests,
    logged: () =>
      new Promise<void>((resolve, reject) => {
        // Answered after every earlier response was written, so its line comes after theirs.
        const id = randomUUID();
        markers.set(id, () => {
          markers.delete(id);
          resolve();
        });
        http.get(`${endpoint}/__log-marker-${id}`, (res) => res.resume()).on('error', reject);
      }),
    options: (extra = {}) => ({
      bucket: buckets[0]!,
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      ...extra,
    }),
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    stop: () => {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGCONT');
          child.kill('SIGTERM');
          await exited(child);
        }
        child.stdin!.destroy();
        fs.rmSync(directory, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** A plain SDK client on the same server (to read what the connector wrote another way, or to inject). */
export function rawClient(server: S3TestServer): S3Client {
  const o = server.options();
  return new S3Client({
    endpoint: o.endpoint,
    region: o.region,
    forcePathStyle: true,
    credentials: o.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
