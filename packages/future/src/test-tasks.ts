// Runs fixtures/task.mjs in child processes for the cross-process tests.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { serialize } from '@proxy/core';

const packageDir = path.resolve(__dirname, '..');
const FIXTURE = path.join(packageDir, 'src', 'fixtures', 'task.mjs');
const BUILT = ['core', 'future', 'connector-file', 'connector-redis'].map((name) =>
  path.join(packageDir, '..', name, 'dist', 'index.js'),
);

export interface TaskEvent {
  event: 'started' | 'waiting' | 'done' | 'error';
  [field: string]: unknown;
}

/**
 * Child processes run built code: the fixture imports the packages by name the way an
 * application would (`@proxy/future` through the package's own `exports`, the others through
 * its dependencies), and core rebuilds connectors from configs starting at the fixture.
 */
export function checkBuilt(): void {
  for (const dist of BUILT) {
    if (!fs.existsSync(dist)) {
      throw new Error(
        `${dist} is missing: child processes run built code; run \`npx turbo run build --filter=@proxy/future...\` first`,
      );
    }
  }
}

/** A running task: its events as they come, and its exit. */
export class Task {
  readonly events: TaskEvent[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly listeners = new Set<() => void>();
  private stderr = '';
  private closed = false;

  constructor(role: string, value: unknown, delayMs?: number) {
    const payload = Buffer.from(serialize({ value })).toString('base64');
    const args = [FIXTURE, role, payload, ...(delayMs === undefined ? [] : [String(delayMs)])];
    this.child = spawn(process.execPath, args, {
      cwd: packageDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as TaskEvent);
      } catch {
        this.stderr += `${line}\n`;
      }
      for (const wake of this.listeners) wake();
    });
    // 'close' comes after the output is fully read, unlike 'exit'.
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code) => {
        this.closed = true;
        for (const wake of this.listeners) wake();
        resolve(code);
      }),
    );
  }

  /** The first event named `name`; rejects if the task exits without it. */
  async next(name: TaskEvent['event']): Promise<TaskEvent> {
    for (;;) {
      const found = this.events.find((e) => e.event === name);
      if (found) return found;
      if (this.closed) {
        throw new Error(
          `task exited (${this.child.exitCode}) without "${name}"; events ${JSON.stringify(this.events)}; stderr: ${this.stderr}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.listeners.delete(wake);
          resolve();
        };
        this.listeners.add(wake);
      });
    }
  }

  /** Waits for the exit and returns the final event (done or error). */
  async finish(): Promise<TaskEvent> {
    const code = await this.exited;
    const last = this.events.findLast((e) => e.event === 'done' || e.event === 'error');
    if (!last)
      throw new Error(
        `task exited (${code}) with no result; events ${JSON.stringify(this.events)}; stderr: ${this.stderr}`,
      );
    return last;
  }

  kill(): void {
    if (!this.closed) this.child.kill('SIGKILL');
  }
}
