// Runs fixtures/task.mjs in child processes for the cross-process tests.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { serialize } from '@proxy/core';

const packagesDir = path.resolve(__dirname, '..', '..');
const PACKAGES = ['core', 'future', 'connector-file', 'connector-redis'];

export interface TaskEvent {
  event: 'started' | 'waiting' | 'done' | 'error';
  [field: string]: unknown;
}

/**
 * A throwaway application directory that depends on the four packages by name (symlinks to
 * their built dist), like a user's app would. The task fixture is copied into it, so package
 * resolution (ESM imports, core rebuilding a connector from its config, the sync-bridge worker)
 * starts from the app, not from this workspace package's own dependencies.
 */
export function makeTaskApp(): { dir: string; remove(): void } {
  for (const name of PACKAGES) {
    const dist = path.join(packagesDir, name, 'dist', 'index.js');
    if (!fs.existsSync(dist)) {
      throw new Error(
        `${dist} is missing: child processes run built code; run \`npx turbo run build --filter=@proxy/future...\` first`,
      );
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-future-app-'));
  fs.mkdirSync(path.join(dir, 'node_modules', '@proxy'), { recursive: true });
  for (const name of PACKAGES) {
    fs.symlinkSync(
      path.join(packagesDir, name),
      path.join(dir, 'node_modules', '@proxy', name),
      'dir',
    );
  }
  fs.copyFileSync(path.join(__dirname, 'fixtures', 'task.mjs'), path.join(dir, 'task.mjs'));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A running task: its events as they come, and its exit. */
export class Task {
  readonly events: TaskEvent[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly listeners = new Set<() => void>();
  private stderr = '';
  private closed = false;

  constructor(appDir: string, role: string, value: unknown, delayMs?: number) {
    // Wrapped: core's serialize() tests a top-level value with `instanceof Uint8Array`, which
    // resolves an unresolved proxy (blocking until a future is set). Nested values are safe.
    const payload = Buffer.from(serialize({ value })).toString('base64');
    const args = [
      path.join(appDir, 'task.mjs'),
      role,
      payload,
      ...(delayMs === undefined ? [] : [String(delayMs)]),
    ];
    this.child = spawn(process.execPath, args, { cwd: appDir, stdio: ['ignore', 'pipe', 'pipe'] });
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
