import { type ChildProcess, spawn } from 'node:child_process';

export interface NodeResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunNodeOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** Node flags before the script (e.g. `--expose-gc`). */
  execArgv?: string[];
  /** Run as this user and group (only when the test runs as root). */
  uid?: number;
  gid?: number;
  /** The child is killed with SIGKILL after this long (default 60 s): a test never hangs on it. */
  timeoutMs?: number;
  /** Called once the child is spawned (to signal or write to it). */
  onSpawn?: (child: ChildProcess) => void;
}

/** Runs `node [execArgv] <script> ...args` in a child process and collects its output. */
export function runNode(
  script: string,
  args: string[] = [],
  options: RunNodeOptions = {},
): Promise<NodeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.execArgv ?? []), script, ...args], {
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
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    options.onSpawn?.(child);
  });
}
