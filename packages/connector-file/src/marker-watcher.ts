import fs from 'node:fs';
import path from 'node:path';
import { checkWaitTimeout, FutureTimeoutError, longTimeout } from '@proxy/core';
import { errnoOf, ioError } from './io-error.js';

export interface MarkerWaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Names the key in the timeout message. */
  label: string;
}

interface Waiter {
  readonly marker: string;
  check(): void;
  fail(error: unknown): void;
}

const FIRST_POLL_MS = 10;
/**
 * Waits for marker files to appear in one directory. One `fs.watch` on the directory serves every
 * waiter and wakes them as soon as the marker is created. A backed-off poll (10 ms doubling up to
 * `maxPollMs`) runs beside it: fs.watch may be unavailable, and on network file systems it does not
 * see files created by other machines.
 */
export class MarkerWatcher {
  private watcher: fs.FSWatcher | undefined;
  private watchUnavailable: boolean;
  private readonly waiters = new Map<string, Set<Waiter>>();

  constructor(
    private readonly dir: string,
    private readonly maxPollMs: number,
    watch: boolean,
  ) {
    this.watchUnavailable = !watch;
  }

  wait(markerName: string, options: MarkerWaitOptions): Promise<void> {
    const { signal, timeoutMs } = options;
    try {
      checkWaitTimeout('FileConnector', timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const markerPath = path.join(this.dir, markerName);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let pollTimer: NodeJS.Timeout | undefined;
      let timeoutTimer: { clear(): void } | undefined;
      let pollMs = FIRST_POLL_MS;
      let checking = false;
      let recheck = false;
      const finish = () => {
        settled = true;
        clearTimeout(pollTimer);
        timeoutTimer?.clear();
        signal?.removeEventListener('abort', onAbort);
        this.remove(waiter);
      };
      const waiter: Waiter = {
        marker: markerName,
        check: () => {
          if (settled) return;
          if (checking) {
            // A check already in flight may have looked before the marker appeared: look again.
            recheck = true;
            return;
          }
          checking = true;
          fs.access(markerPath, (error) => {
            checking = false;
            if (settled) return;
            if (error && recheck) {
              recheck = false;
              return waiter.check();
            }
            recheck = false;
            if (!error) {
              finish();
              resolve();
            } else if (errnoOf(error) !== 'ENOENT') {
              waiter.fail(ioError('check marker', markerPath, error));
            }
          });
        },
        fail: (error) => {
          if (settled) return;
          finish();
          reject(error);
        },
      };
      const onAbort = () => waiter.fail(signal!.reason);
      const poll = () => {
        waiter.check();
        pollMs = Math.min(pollMs * 2, this.maxPollMs);
        pollTimer = setTimeout(poll, pollMs);
      };
      this.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined && timeoutMs !== Number.POSITIVE_INFINITY) {
        timeoutTimer = longTimeout(
          () =>
            waiter.fail(
              new FutureTimeoutError(
                `FileConnector: ${options.label} was not set within ${timeoutMs} ms (waited for ${markerPath})`,
              ),
            ),
          timeoutMs,
        );
      }
      // The first check runs after the watcher is armed, so a marker created in between is seen.
      poll();
    });
  }

  /** Rejects every pending wait with `error` and stops watching. */
  close(error: unknown): void {
    for (const set of [...this.waiters.values()]) for (const waiter of [...set]) waiter.fail(error);
    this.stopWatching();
  }

  private add(waiter: Waiter): void {
    let set = this.waiters.get(waiter.marker);
    if (!set) {
      set = new Set();
      this.waiters.set(waiter.marker, set);
    }
    set.add(waiter);
    this.startWatching();
  }

  private remove(waiter: Waiter): void {
    const set = this.waiters.get(waiter.marker);
    if (!set) return;
    set.delete(waiter);
    if (set.size === 0) this.waiters.delete(waiter.marker);
    if (this.waiters.size === 0) this.stopWatching();
  }

  private startWatching(): void {
    if (this.watcher || this.watchUnavailable) return;
    try {
      // Not persistent: the poll timer already keeps the process alive while someone waits.
      this.watcher = fs.watch(this.dir, { persistent: false }, (_event, filename) =>
        this.onEvent(filename),
      );
      this.watcher.on('error', () => {
        this.watchUnavailable = true;
        this.stopWatching();
      });
    } catch {
      this.watchUnavailable = true;
    }
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private onEvent(filename: string | Buffer | null): void {
    if (filename === null) {
      for (const set of this.waiters.values()) for (const waiter of set) waiter.check();
      return;
    }
    const set = this.waiters.get(filename.toString());
    if (set) for (const waiter of set) waiter.check();
  }
}
