import { type ChildProcess, fork } from 'node:child_process';
import os from 'node:os';
import type { Outcome, TaskCall } from './call.js';
import { entryPath } from './entry-path.js';
import { TaskTimeoutError, WorkerCrashedError } from './errors.js';
import { PooledExecutor } from './pooled-executor.js';

export interface ProcessPoolExecutorOptions {
  /** Child processes at most. Default: the number of CPUs. */
  size?: number;
  /** A task running longer than this is failed and its child killed. Default: no limit. */
  timeoutMs?: number;
  /** Working directory of the children (where task package specifiers resolve). Default: this process's. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  execArgv?: string[];
  /** The built child entry; located from the application by default. */
  entry?: string;
}

/** Parent → child. */
export type ToChild = { type: 'run'; id: number; call: TaskCall } | { type: 'stop' };
/** Child → parent. */
export type FromChild = { type: 'result'; id: number; outcome: Outcome };

interface Running {
  id: number;
  call: TaskCall;
  resolve: (outcome: Outcome) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

interface Slot {
  child: ChildProcess;
  running: Running | undefined;
  /** Killed or lost: never given another task, whatever `connected` still says. */
  dead: boolean;
  exited: Promise<void>;
}

/**
 * Runs task references in a pool of `child_process.fork` children, one task per child at a
 * time. A child that dies mid-task fails that task with `WorkerCrashedError` and is replaced
 * on demand; the other tasks carry on.
 */
export class ProcessPoolExecutor extends PooledExecutor {
  private readonly slots = new Set<Slot>();
  private readonly entry: string;
  private readonly options: ProcessPoolExecutorOptions;
  private nextId = 0;

  constructor(options: ProcessPoolExecutorOptions = {}) {
    const size = options.size ?? os.availableParallelism();
    super(size, 'ProcessPoolExecutor');
    if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) {
      throw new RangeError(`ProcessPoolExecutor: timeoutMs must be > 0, got ${options.timeoutMs}`);
    }
    this.options = options;
    this.entry = entryPath('process-entry', options.entry);
  }

  /** Process ids of the live children (tests check none are left). */
  get pids(): number[] {
    return [...this.slots].map((s) => s.child.pid!).filter((pid) => pid !== undefined);
  }

  private spawn(): Slot {
    const child = fork(this.entry, [], {
      cwd: this.options.cwd ?? process.cwd(),
      env: this.options.env ?? process.env,
      execArgv: this.options.execArgv ?? [],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let onExit!: () => void;
    const slot: Slot = {
      child,
      running: undefined,
      dead: false,
      exited: new Promise((resolve) => (onExit = resolve)),
    };
    child.on('message', (message: FromChild) => {
      const running = slot.running;
      if (message?.type !== 'result' || running === undefined || running.id !== message.id) return;
      slot.running = undefined;
      clearTimeout(running.timer);
      running.resolve(message.outcome);
    });
    // 'error' covers a failed spawn or a failed send; 'exit' follows when the child is gone.
    child.on('error', (error) => {
      slot.dead = true;
      this.fail(slot, error.message, error);
    });
    child.on('exit', (code, signal) => {
      slot.dead = true;
      this.slots.delete(slot);
      this.fail(slot, signal ? `was killed by ${signal}` : `exited with code ${code}`);
      onExit();
    });
    this.slots.add(slot);
    return slot;
  }

  private fail(slot: Slot, how: string, cause?: unknown): void {
    const running = slot.running;
    if (!running) return;
    slot.running = undefined;
    clearTimeout(running.timer);
    running.reject(
      new WorkerCrashedError(
        `Child process ${slot.child.pid} running ${running.call.export} (${running.call.module}) ${how} before answering.`,
        cause !== undefined ? { cause } : undefined,
      ),
    );
  }

  private idleSlot(): Slot {
    for (const slot of this.slots) {
      if (slot.running === undefined && !slot.dead && slot.child.connected) return slot;
    }
    // Dead children stay in the set until 'exit' (so shutdown waits for them) but do not
    // count: the dispatcher already bounds live ones to `size`.
    return this.spawn();
  }

  protected dispatch(call: TaskCall): Promise<Outcome> {
    const slot = this.idleSlot();
    return new Promise<Outcome>((resolve, reject) => {
      const id = ++this.nextId;
      const running: Running = { id, call, resolve, reject, timer: undefined };
      slot.running = running;
      if (this.options.timeoutMs !== undefined) {
        running.timer = setTimeout(() => {
          if (slot.running !== running) return;
          slot.running = undefined;
          slot.dead = true;
          slot.child.kill('SIGKILL');
          reject(
            new TaskTimeoutError(
              `Task ${call.export} (${call.module}) ran longer than ${this.options.timeoutMs} ms; child process ${slot.child.pid} was killed.`,
            ),
          );
        }, this.options.timeoutMs);
      }
      slot.child.send({ type: 'run', id, call } satisfies ToChild, (error) => {
        if (error) this.fail(slot, `could not be sent the task (${error.message})`, error);
      });
    });
  }

  protected async closePool(): Promise<void> {
    const slots = [...this.slots];
    for (const slot of slots) {
      if (!slot.dead && slot.child.connected)
        slot.child.send({ type: 'stop' } satisfies ToChild, () => {});
      else slot.child.kill('SIGKILL');
    }
    await Promise.all(slots.map((s) => s.exited));
  }
}
