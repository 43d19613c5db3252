// Test-only helpers: run the built `proxy-endpoint` CLI as child processes in a temp home.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@proxy/connector-test-suite';
import { readConfig, writeConfig } from './endpoint-config.js';

export const CLI = path.resolve(__dirname, '..', 'dist', 'cli.js');

if (!fs.existsSync(CLI)) {
  throw new Error(
    `${CLI} is missing: build first (cd packages/connector-endpoint && npx tsc --build)`,
  );
}

export function tempHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-endpoint-test-'));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion with PROXY_HOME=home. */
export function cli(home: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, PROXY_HOME: home } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface StartOptions {
  storage?: 'memory' | 'file';
  maxObjectSize?: number;
  token?: string;
  home?: string;
  name?: string;
  /** Written to config.toml as `send_timeout_ms`. */
  sendTimeoutMs?: number;
}

export interface RunningEndpoint {
  name: string;
  home: string;
  address: string;
  uuid: string;
  port: number;
  child: ChildProcess;
  /** `proxy-endpoint stop NAME`, then waits for the child to exit. */
  stop(): Promise<void>;
}

/**
 * Configures an endpoint on a free port and runs `proxy-endpoint start NAME` in the
 * foreground as a child process; resolves when it printed its address line.
 */
export async function startEndpoint(options: StartOptions = {}): Promise<RunningEndpoint> {
  const home = options.home ?? tempHome();
  const name = options.name ?? `ep${Math.random().toString(36).slice(2, 8)}`;
  const port = await freePort();
  const args = [
    'configure',
    name,
    '--port',
    String(port),
    '--storage',
    options.storage ?? 'memory',
  ];
  if (options.maxObjectSize !== undefined)
    args.push('--max-object-size', String(options.maxObjectSize));
  if (options.token !== undefined) args.push('--token', options.token);
  const configured = await cli(home, ...args);
  if (configured.code !== 0) throw new Error(`configure failed: ${configured.stderr}`);
  const uuid = /\(([0-9a-f-]{36})\)/.exec(configured.stdout)![1]!;
  if (options.sendTimeoutMs !== undefined) {
    const config = readConfig(name, home);
    writeConfig({ ...config, sendTimeoutMs: options.sendTimeoutMs }, home);
  }
  return launchEndpoint({ home, name, uuid, port });
}

/**
 * Runs `proxy-endpoint start NAME` of an endpoint already configured in `home`, in the
 * foreground as a child process; resolves when it printed its address line. Starting the same
 * endpoint again after `stop()` is a restart (the file storage keeps its data).
 */
export async function launchEndpoint(endpoint: {
  home: string;
  name: string;
  uuid: string;
  port: number;
}): Promise<RunningEndpoint> {
  const { home, name } = endpoint;
  const child = spawn(process.execPath, [CLI, 'start', name], {
    env: { ...process.env, PROXY_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        resolve(m[1]!);
      }
    };
    const onExit = (code: number | null) =>
      reject(new Error(`endpoint exited (${code}) before it was ready: ${stderr}`));
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  child.stdout!.resume();
  return {
    ...endpoint,
    address,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const r = await cli(home, 'stop', name);
        if (r.code !== 0) child.kill('SIGKILL');
      }
      await exited;
    },
  };
}

export interface TcpProxy {
  /** `http://127.0.0.1:PORT` of the proxy. */
  address: string;
  /** Bytes per second forwarded from clients to the target; 0 stops forwarding (and reading). */
  rate: number;
  /** Connections open right now, and the most that were ever open at once. */
  open: number;
  maxOpen: number;
  /** When it returns true for data a client sent, that connection is dropped. */
  drop?: (data: Buffer) => boolean;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of `target` (`http://host:port`) that forwards what clients send at
 * `rate` bytes/s (answers flow back unthrottled). It reads from a client only as fast as it
 * forwards, so a slow or stopped proxy pushes back on the client's socket as a slow or dead
 * network would.
 */
export async function tcpProxy(target: string, rate = Number.POSITIVE_INFINITY): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const TICK_MS = 20;
  const sockets = new Set<net.Socket>();
  const ticks = new Set<() => void>();
  const timer = setInterval(() => {
    for (const tick of ticks) tick();
  }, TICK_MS);
  const server = net.createServer((client) => {
    proxy.open++;
    proxy.maxOpen = Math.max(proxy.maxOpen, proxy.open);
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    const queue: Buffer[] = [];
    let queued = 0;
    let budget = 0;
    const tick = () => {
      // No saving up while idle: an idle link does not send a burst later.
      const perTick = (proxy.rate * TICK_MS) / 1000;
      budget = Math.min(budget + perTick, 2 * perTick);
      flush();
    };
    const flush = () => {
      while (queue.length > 0 && budget >= 1) {
        const head = queue[0]!;
        const n = Math.min(head.length, Math.floor(budget));
        upstream.write(head.subarray(0, n));
        budget -= n;
        queued -= n;
        if (n === head.length) queue.shift();
        else queue[0] = head.subarray(n);
      }
      if (queued < 65536 && proxy.rate > 0) client.resume();
    };
    ticks.add(tick);
    client.on('data', (data: Buffer) => {
      if (proxy.drop?.(data)) {
        client.destroy();
        return;
      }
      if (proxy.rate === Number.POSITIVE_INFINITY) {
        upstream.write(data);
        return;
      }
      queue.push(data);
      queued += data.length;
      if (queued >= 65536) client.pause();
      flush();
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.once('close', () => {
      proxy.open--;
      ticks.delete(tick);
      sockets.delete(client);
      sockets.delete(upstream);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: TcpProxy = {
    address: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    rate,
    open: 0,
    maxOpen: 0,
    async close() {
      clearInterval(timer);
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return proxy;
}
