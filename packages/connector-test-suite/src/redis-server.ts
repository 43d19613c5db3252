import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './net.js';

/**
 * Test harness for real Redis servers: a standalone `redis-server` or a 3-master Redis
 * Cluster, each a child process on a free port in its own temp dir with no persistence.
 *
 * Environment:
 * - `REDIS_SERVER_BIN` — path of the `redis-server` binary (default: `redis-server` on PATH).
 * - `REDIS_CLI_BIN` — path of `redis-cli` (used to create clusters; optional).
 * - `REDIS_URL` — `startRedisServer()` returns this existing server instead of starting one
 *   (its `stop()` is then a no-op and it has no `restart()`). Tests that need a server of
 *   their own (stop/restart, ACL users, command counters) ask for `{ private: true }` and
 *   gate on `redisServerAvailable({ private: true })`: they need the binary even then.
 * - `REDIS_CLUSTER_NODES` — `host:port,host:port,…` of an existing cluster for `startRedisCluster()`.
 *
 * Never points at the system Redis on 6379 unless told to through the variables above.
 */

/** A running (or borrowed) standalone Redis. */
export interface RedisServer {
  /** `redis://host:port`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** True when the server came from `REDIS_URL` (the harness does not own it). */
  readonly external: boolean;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its temp dir. No-op when external. */
  stop(): Promise<void>;
  /** Starts a fresh, empty server on the same port (stopping the running one first; also works after `stop()`). Absent when external. */
  restart?(): Promise<void>;
  /** The child's process id (undefined when external or stopped). */
  readonly pid: number | undefined;
}

export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `['--requirepass', 'secret']`. */
  args?: string[];
  /** How long to wait for PING to answer. Default 10 s. */
  startTimeoutMs?: number;
  /** Ignore `REDIS_URL` and always start a private server (tests that stop or restart it). */
  private?: boolean;
}

export interface RedisClusterNode {
  readonly host: string;
  readonly port: number;
}

/** A running (or borrowed) Redis Cluster. */
export interface RedisCluster {
  /** The masters, usable as ioredis Cluster startup nodes. */
  readonly nodes: RedisClusterNode[];
  readonly external: boolean;
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Ignore `REDIS_CLUSTER_NODES` and always start private nodes (tests that move slots). */
  private?: boolean;
  /** Number of masters (no replicas). Default 3 (the minimum `redis-cli --cluster create` takes). */
  masters?: number;
  args?: string[];
  /** How long to wait for `cluster_state:ok` on every node. Default 20 s. */
  startTimeoutMs?: number;
}

export function redisServerBin(): string {
  return process.env.REDIS_SERVER_BIN || 'redis-server';
}

function redisCliBin(): string {
  return process.env.REDIS_CLI_BIN || 'redis-cli';
}

function runs(bin: string): boolean {
  const probe = spawnSync(bin, ['--version'], { stdio: 'ignore', timeout: 5000 });
  return probe.status === 0;
}

/** Probe results per binary path (`REDIS_SERVER_BIN` may change between calls in tests). */
const probes = new Map<string, boolean>();

function binaryRuns(): boolean {
  const bin = redisServerBin();
  let found = probes.get(bin);
  if (found === undefined) {
    found = runs(bin);
    probes.set(bin, found);
  }
  return found;
}

/**
 * Whether tests can have a Redis: `REDIS_URL` is set or the `redis-server` binary runs.
 * With `{ private: true }` (tests that start their own server), only the binary counts.
 */
export function redisServerAvailable(options: { private?: boolean } = {}): boolean {
  if (process.env.REDIS_URL && !options.private) return true;
  return binaryRuns();
}

/**
 * Whether tests can have a Redis Cluster: `REDIS_CLUSTER_NODES` is set or `redis-server` runs.
 * With `{ private: true }`, only the binary counts.
 */
export function redisClusterAvailable(options: { private?: boolean } = {}): boolean {
  if (process.env.REDIS_CLUSTER_NODES && !options.private) return true;
  return binaryRuns();
}

/** The install hint to pass to `describeWithService`. */
export const REDIS_INSTALL_HINT =
  'install redis-server (apt-get install redis-server) or set REDIS_SERVER_BIN / REDIS_URL';

/** The requirement (service name) of tests that start their own server, whatever REDIS_URL says. */
export const PRIVATE_REDIS_REQUIREMENT = 'a private redis-server binary';

/** The hint for tests that need a private server: REDIS_URL does not help them. */
export const PRIVATE_REDIS_INSTALL_HINT =
  'these tests start, stop or reconfigure a server of their own (REDIS_URL does not replace it): install redis-server (apt-get install redis-server) or set REDIS_SERVER_BIN';

type Reply = string | number | null | Error | Reply[];

/** Parses one RESP reply from `buf` at `at`; undefined when more bytes are needed. */
function parseReply(buf: Buffer, at: number): { value: Reply; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[at]!)) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`Unexpected RESP reply byte ${buf[at]}`);
  }
}

/**
 * Sends one command over a fresh TCP connection and returns the reply (a Redis error reply
 * rejects). A dependency-free client for the harness itself: PING, CLUSTER INFO, SHUTDOWN…
 */
export function redisCommand(
  host: string,
  port: number,
  args: string[],
  timeoutMs = 5000,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let data = Buffer.alloc(0);
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () =>
      fail(new Error(`redis ${host}:${port} did not answer ${args[0]} within ${timeoutMs} ms`)),
    );
    socket.once('error', (e) =>
      fail(new Error(`redis ${host}:${port}: ${e.message}`, { cause: e })),
    );
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      let parsed: ReturnType<typeof parseReply>;
      try {
        parsed = parseReply(data, 0);
      } catch (e) {
        return fail(e as Error);
      }
      if (!parsed) return;
      socket.destroy();
      if (parsed.value instanceof Error)
        reject(new Error(`redis ${host}:${port} ${args[0]}: ${parsed.value.message}`));
      else resolve(parsed.value);
    });
    const parts = args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`);
    socket.write(`*${args.length}\r\n${parts.join('')}`);
  });
}

const HOST = '127.0.0.1';
const children = new Set<ChildProcess>();
let exitHook = false;

// Safety net: a test run that ends without calling stop() must not leave servers behind.
function killChildrenAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const child of children) child.kill('SIGKILL');
  });
}

async function until(
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean>,
  child?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (child && child.exitCode !== null)
      throw new Error(`${what}: redis-server exited with code ${child.exitCode}`);
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Spawned {
  child: ChildProcess;
  log: () => string;
}

function spawnServer(port: number, dir: string, args: string[]): Spawned {
  const bin = redisServerBin();
  let output = '';
  const child = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.once('error', (e) => keep(Buffer.from(`\nspawn ${bin} failed: ${e.message}`)));
  killChildrenAtExit();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return { child, log: () => output };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Starts redis-server on `port` (a free one when omitted) and waits for PING; retries on a lost port race. */
async function launch(
  dir: string,
  args: string[],
  timeoutMs: number,
  fixedPort?: number,
): Promise<Spawned & { port: number }> {
  for (let attempt = 0; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    const spawned = spawnServer(port, dir, args);
    try {
      await until(
        `redis-server on ${HOST}:${port} did not answer PING`,
        timeoutMs,
        async () => {
          // A server started with --requirepass answers NOAUTH: it is up all the same.
          const reply = await redisCommand(HOST, port, ['PING'], 1000).catch((e: Error) =>
            /NOAUTH/.test(e.message) ? 'PONG' : Promise.reject(e),
          );
          return reply === 'PONG';
        },
        spawned.child,
      );
      return { ...spawned, port };
    } catch (error) {
      await stopChild(spawned.child);
      const log = spawned.log();
      const portTaken = /Address already in use/i.test(log);
      if (portTaken && fixedPort === undefined && attempt < 3) continue;
      throw new Error(
        `${(error as Error).message}\n(binary ${redisServerBin()}; output: ${log.trim() || 'none'})`,
        { cause: error },
      );
    }
  }
}

function externalServer(url: string): RedisServer {
  const parsed = new URL(url);
  // An IPv6 literal comes in brackets (`[::1]`); the host itself has none.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || HOST;
  const port = Number(parsed.port || 6379);
  return { url, host, port, external: true, pid: undefined, stop: async () => {} };
}

/**
 * Starts a private, empty `redis-server` (no persistence) on a free port, or returns the
 * server `REDIS_URL` names. Call `stop()` when done (e.g. in `afterAll`).
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (process.env.REDIS_URL && !options.private) return externalServer(process.env.REDIS_URL);
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const args = options.args ?? [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-redis-'));
  let current: Spawned | undefined;
  let port: number;
  try {
    const launched = await launch(dir, args, timeoutMs);
    current = launched;
    port = launched.port;
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const server: RedisServer = {
    url: `redis://${HOST}:${port}`,
    host: HOST,
    port,
    external: false,
    get pid() {
      return current?.child.pid;
    },
    async stop() {
      const child = current?.child;
      current = undefined;
      if (child) await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      if (current) await stopChild(current.child);
      current = undefined;
      fs.mkdirSync(dir, { recursive: true });
      current = await launch(dir, args, timeoutMs, port);
    },
  };
  return server;
}

function parseNodes(list: string): RedisClusterNode[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const at = s.lastIndexOf(':');
      return { host: s.slice(0, at), port: Number(s.slice(at + 1)) };
    });
}

async function clusterInfo(node: RedisClusterNode): Promise<string> {
  return String(await redisCommand(node.host, node.port, ['CLUSTER', 'INFO']));
}

/** Joins masters with `redis-cli --cluster create`, or CLUSTER ADDSLOTS/MEET when redis-cli is missing. */
async function joinCluster(nodes: RedisClusterNode[]): Promise<void> {
  const cli = redisCliBin();
  if (runs(cli)) {
    const result = spawnSync(
      cli,
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${n.host}:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (result.status !== 0) {
      throw new Error(
        `redis-cli --cluster create failed (${result.status}): ${result.stderr || result.stdout}`,
      );
    }
    return;
  }
  const per = Math.ceil(16384 / nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    const slots: string[] = [];
    for (let s = i * per; s < Math.min(16384, (i + 1) * per); s++) slots.push(String(s));
    await redisCommand(nodes[i]!.host, nodes[i]!.port, ['CLUSTER', 'ADDSLOTS', ...slots]);
  }
  for (const node of nodes.slice(1)) {
    await redisCommand(nodes[0]!.host, nodes[0]!.port, [
      'CLUSTER',
      'MEET',
      node.host,
      String(node.port),
    ]);
  }
}

/**
 * Starts `masters` cluster-enabled redis-server processes on free ports and joins them into
 * one cluster (no replicas), waiting until every node reports `cluster_state:ok` and knows
 * all masters. `REDIS_CLUSTER_NODES` returns an existing cluster instead.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  if (process.env.REDIS_CLUSTER_NODES && !options.private) {
    return {
      nodes: parseNodes(process.env.REDIS_CLUSTER_NODES),
      external: true,
      stop: async () => {},
    };
  }
  const masters = options.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 1)
    throw new TypeError(`masters must be a positive integer; got ${masters}`);
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  const dirs: string[] = [];
  const started: Spawned[] = [];
  const nodes: RedisClusterNode[] = [];
  const stop = async () => {
    await Promise.all(started.map((s) => stopChild(s.child)));
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const launched = await Promise.all(
      Array.from({ length: masters }, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-redis-cluster-'));
        dirs.push(dir);
        const args = [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '5000',
          ...(options.args ?? []),
        ];
        const node = await launch(dir, args, timeoutMs);
        started.push(node);
        return node;
      }),
    );
    for (const node of launched) nodes.push({ host: HOST, port: node.port });
    await joinCluster(nodes);
    await until('Redis Cluster did not reach cluster_state:ok', timeoutMs, async () => {
      for (const node of nodes) {
        const info = await clusterInfo(node);
        if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${masters}`))
          return false;
      }
      return true;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, external: false, stop };
}
