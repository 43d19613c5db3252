// Test-only helpers: run the built `proxy-endpoint` CLI as child processes in a temp home.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@proxy/connector-test-suite';

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
