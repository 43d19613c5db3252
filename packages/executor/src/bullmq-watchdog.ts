import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Job, type Queue, type RedisClient } from 'bullmq';
import { WorkerCrashedError } from './errors.js';

/** What the watchdog needs from its executor. */
export interface WatchdogHost {
  /** Ids of the executor's jobs that may be in Redis and have not settled. */
  inFlight(): string[];
  /**
   * The reason to fail job `jobId` with, or undefined when it has settled meanwhile. The host
   * remembers it, so a `failed` event carrying it is recognised as this crash.
   */
  crashReason(jobId: string, lostForMs: number): string | undefined;
  /** Job `jobId` is now failed in Redis with `reason`: reject its caller. */
  crashed(jobId: string, reason: string): void;
}

export interface WorkerWatchdogOptions {
  /** How long the queue must have had no live worker before an orphaned job is failed. */
  lostAfterMs: number;
  /** Poll period while jobs are in flight. */
  intervalMs: number;
}

/**
 * How long the watchdog's own claim on a job's lock lives: it is deleted when the job is failed
 * (or released when failing it did not work), so this only matters if this process dies mid-way.
 */
const CLAIM_MS = 30_000;

// Take the lock only if nobody holds it: a worker that still renews its lock is alive, and a
// worker that has just taken the job again (after a stall check) must keep it.
const CLAIM = 'proxyExecutorClaimLock';
const CLAIM_LUA = `if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;
const RELEASE = 'proxyExecutorReleaseLock';
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

const defined = new WeakSet<RedisClient>();

/**
 * Finds jobs of one executor whose worker died while no other worker runs on the queue (so no
 * BullMQ stall check will ever notice): active in Redis, lock expired, and no worker connected
 * for `lostAfterMs`. Each such job is failed in Redis, without retries, under a lock taken
 * atomically, so no worker started later runs it again; then its caller is rejected.
 *
 * Live workers are the queue's named Redis connections (`CLIENT LIST`, BullMQ's
 * `getWorkers()`): a killed process's connection closes with it. Polls only while jobs are in
 * flight, with an unref'd timer; a poll that fails (Redis away, CLIENT LIST not allowed) is
 * retried at the next one and never reports a crash.
 */
export class WorkerWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** `performance.now()` of the first poll, in the current run, that saw no worker at all. */
  private noWorkersSince: number | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly host: WatchdogHost,
    private readonly options: WorkerWatchdogOptions,
  ) {}

  /** A job was queued: poll until none is in flight. */
  watch(): void {
    if (this.stopped || this.timer || this.running) return;
    this.timer = setTimeout(() => this.poll(), this.options.intervalMs);
    this.timer.unref();
  }

  /** No more polls; resolves once a poll under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private poll(): void {
    this.timer = undefined;
    this.running = this.check()
      .catch(() => {})
      .finally(() => {
        this.running = undefined;
        if (this.host.inFlight().length > 0) this.watch();
        else this.noWorkersSince = undefined;
      });
  }

  private async check(): Promise<void> {
    if (this.host.inFlight().length === 0) return;
    const workers = await this.queue.getWorkersCount();
    const now = performance.now();
    if (workers > 0) {
      this.noWorkersSince = undefined;
      return;
    }
    this.noWorkersSince ??= now;
    const lostForMs = now - this.noWorkersSince;
    if (lostForMs < this.options.lostAfterMs) return;
    const client = await this.queue.client;
    const active = new Set(await client.lrange(this.queue.keys.active!, 0, -1));
    for (const jobId of this.host.inFlight()) {
      if (active.has(jobId) && !this.stopped) await this.fail(client, jobId, Math.round(lostForMs));
    }
  }

  private async fail(client: RedisClient, jobId: string, lostForMs: number): Promise<void> {
    if (!defined.has(client)) {
      client.defineCommand(CLAIM, { numberOfKeys: 1, lua: CLAIM_LUA });
      client.defineCommand(RELEASE, { numberOfKeys: 1, lua: RELEASE_LUA });
      defined.add(client);
    }
    const lockKey = `${this.queue.toKey(jobId)}:lock`;
    const token = `proxy-executor-watchdog:${randomUUID()}`;
    // Not claimed: the lock has not expired yet (or a worker holds it): look again next poll.
    if ((await client.runCommand(CLAIM, [lockKey, token, CLAIM_MS])) !== 1) return;
    let reason: string | undefined;
    try {
      reason = this.host.crashReason(jobId, lostForMs);
      const job = reason === undefined ? undefined : await Job.fromId(this.queue, jobId);
      if (job && reason !== undefined) {
        // Failed for good even with `attempts` left: the caller is told it crashed, so a retry
        // would run a task nobody waits for, on inputs a StoreExecutor has already evicted.
        job.discard();
        // Checks our token, and that the job is still active (not taken back by a stall check).
        await job.moveToFailed(new WorkerCrashedError(reason), token, false);
        this.host.crashed(jobId, reason);
        return;
      }
    } catch {
      // Left as it was; the next poll decides again.
    }
    await client.runCommand(RELEASE, [lockKey, token]).catch(() => {});
  }
}
