import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const CLI = path.join(__dirname, '..', 'dist', 'bullmq-cli.js');

/** A `proxy-executor-worker` child process (the built CLI), resolved once it reports ready. */
export async function startWorkerProcess(
  args: string[],
): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(': ready')) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`worker process exited with code ${code} before it was ready: ${out}`)),
    );
  });
  return {
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
