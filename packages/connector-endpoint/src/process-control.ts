import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { readConfig } from './endpoint-config.js';
import { endpointPaths, proxyHome } from './home.js';

export type EndpointStatus = 'RUNNING' | 'STOPPED' | 'HANGING' | 'UNKNOWN';

/**
 * When a process started, in clock ticks since boot (`/proc/<pid>/stat` field 22), or
 * undefined where there is no /proc. With the pid it names one process for good: a pid is
 * reused by later processes, a (pid, start time) pair never is.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, starttime 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Writes this process's PID file: its pid and, where known, its start time. */
export function writePidFile(file: string): void {
  fs.writeFileSync(file, `${process.pid}\n${processStartTime(process.pid) ?? ''}\n`);
}

function readPidFile(name: string, home: string): { pid: number; startTime?: string } | null {
  let text: string;
  try {
    text = fs.readFileSync(endpointPaths(name, home).pid, 'utf8');
  } catch {
    return null;
  }
  const [first, second] = text.split('\n');
  const pid = Number(first?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const startTime = second?.trim();
  return startTime ? { pid, startTime } : { pid };
}

/** The pid in an endpoint's PID file, or null when there is none. */
export function readPid(name: string, home = proxyHome()): number | null {
  return readPidFile(name, home)?.pid ?? null;
}

/**
 * The pid of the endpoint's running server, or null. A PID file left by a server that died
 * (SIGKILL, a crash) may name a pid the system has since given to an unrelated process: the
 * recorded start time tells them apart, so such a process is never reported or signalled.
 */
export function runningPid(name: string, home = proxyHome()): number | null {
  const recorded = readPidFile(name, home);
  if (!recorded || !isAlive(recorded.pid)) return null;
  if (recorded.startTime === undefined) return recorded.pid;
  const now = processStartTime(recorded.pid);
  return now === undefined || now === recorded.startTime ? recorded.pid : null;
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
  if (readPid(name, home) === null) return 'STOPPED';
  return runningPid(name, home) === null ? 'HANGING' : 'RUNNING';
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
 * then SIGKILL if it is still there after `graceMs`. Returns the pid stopped, or null when
 * none was running (a stale PID file is removed, and the process now using its pid is left alone).
 */
export async function stopEndpoint(
  name: string,
  home = proxyHome(),
  graceMs = 5000,
): Promise<number | null> {
  const paths = endpointPaths(name, home);
  const pid = runningPid(name, home);
  if (pid !== null) {
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
