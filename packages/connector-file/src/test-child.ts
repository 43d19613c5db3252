import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** Run as this user and group (only when the test runs as root). */
  uid?: number;
  gid?: number;
  /** Called once the child is spawned (to signal or write to it). */
  onSpawn?: (child: ChildProcess) => void;
}

/** Path of a fixture script in src/fixtures (they import the built packages by name). */
export function fixture(name: string): string {
  return path.join(__dirname, 'fixtures', name);
}

/** Runs `node <script> ...args` and collects its output. */
export function runNode(
  script: string,
  args: string[],
  options: RunOptions = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (options.input !== undefined) child.stdin.end(options.input);
    options.onSpawn?.(child);
  });
}
