import { checkWaitTimeout, longTimeout } from '@proxy/core';
import { abortableSleep } from './abortable-sleep.js';

export interface PollOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The rejection once `timeoutMs` has passed. */
  timeoutError: () => Error;
  /** First pause between checks; it doubles up to `maxDelayMs`. */
  firstDelayMs: number;
  maxDelayMs: number;
}

/**
 * Runs `check` until it returns true, pausing between checks with exponential backoff. The
 * signal handed to `check` aborts on the caller's signal (with its reason) or at the deadline
 * (with `timeoutError()`), so a request in flight is cut off rather than awaited.
 */
export async function pollUntil(
  check: (signal: AbortSignal) => Promise<boolean>,
  options: PollOptions,
): Promise<void> {
  const { timeoutMs, signal } = options;
  checkWaitTimeout('S3Connector', timeoutMs);
  signal?.throwIfAborted();
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    timeoutMs === undefined || timeoutMs === Number.POSITIVE_INFINITY
      ? undefined
      : longTimeout(() => stop.abort(options.timeoutError()), timeoutMs);
  try {
    let delay = options.firstDelayMs;
    for (;;) {
      if (await check(stop.signal)) return;
      await abortableSleep(delay, stop.signal);
      delay = Math.min(delay * 2, options.maxDelayMs);
    }
  } finally {
    timer?.clear();
    signal?.removeEventListener('abort', onAbort);
  }
}
