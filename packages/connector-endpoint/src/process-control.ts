import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { readConfig } from './endpoint-config.js';
import { endpointPaths, proxyHome } from './home.js';

export type EndpointStatus = 'RUNNING' | 'STOPPED' | 'HANGING' | 'UNKNOWN';

/** The pid in an endpoint's PID file, or null when there is none. */
export function readPid(name: string, home = proxyHome()): number | null {
  try {
    const pid = Number(fs.readFileSync(endpointPaths(name, home).pid, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Whether `pid` is a live process. A zombie (exited, not yet reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/** RUNNING (PID alive), STOPPED (no PID file), HANGING (stale PID file), UNKNOWN (bad config). */
export function endpointStatus(name: string, home = proxyHome()): EndpointStatus {
  try {
    readConfig(name, home);
  } catch {
    return 'UNKNOWN';
  }
  const pid = readPid(name, home);
  if (pid === null) return 'STOPPED';
  return isAlive(pid) ? 'RUNNING' : 'HANGING';
}

/** Resolves once `pid` is gone, or with false after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/**
 * Stops a running endpoint: SIGTERM (it closes its connections and removes its PID file),
 * then SIGKILL if it is still there after `graceMs`. Returns the pid stopped, or null.
 */
export async function stopEndpoint(
  name: string,
  home = proxyHome(),
  graceMs = 5000,
): Promise<number | null> {
  const paths = endpointPaths(name, home);
  const pid = readPid(name, home);
  if (pid === null) return null;
  if (isAlive(pid)) {
    process.kill(pid, 'SIGTERM');
    if (!(await waitForExit(pid, graceMs))) {
      process.kill(pid, 'SIGKILL');
      if (!(await waitForExit(pid, graceMs)))
        throw new Error(`endpoint "${name}" (pid ${pid}) survived SIGKILL`);
    }
  }
  fs.rmSync(paths.pid, { force: true });
  return pid;
}

function ping(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${address}/`, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.setTimeout(1000, () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** The address clients use for a listening host (a wildcard host is reached through loopback). */
export function clientAddress(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * Starts `cli start NAME` as a detached daemon writing to the endpoint's log file, and
 * resolves once it answers on its address. The daemon outlives this process.
 */
export async function startDetached(
  cliPath: string,
  name: string,
  home = proxyHome(),
  timeoutMs = 15_000,
): Promise<{ pid: number; address: string }> {
  const config = readConfig(name, home);
  const paths = endpointPaths(name, home);
  const log = fs.openSync(paths.log, 'a');
  const child = spawn(process.execPath, [cliPath, 'start', name], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, PROXY_HOME: home },
  });
  fs.closeSync(log);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  child.once('error', (error) => {
    exited = `could not start: ${error.message}`;
  });
  const address = clientAddress(config.host, config.port);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (exited)
        throw new Error(`endpoint "${name}" ${exited}; see ${paths.log}:\n${tail(paths.log)}`);
      if (readPid(name, home) === child.pid && (await ping(address)))
        return { pid: child.pid!, address };
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(
          `endpoint "${name}" did not answer on ${address} within ${timeoutMs} ms; see ${paths.log}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.unref();
  }
}

function tail(file: string, lines = 10): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
