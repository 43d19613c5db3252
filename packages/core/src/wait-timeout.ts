/** Node fires any `setTimeout` longer than this after 1 ms (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks a `waitFor` timeout: absent, `Infinity` (both: no deadline) or a number ≥ 0. Anything
 * else (negative, NaN, a string) is a `TypeError` naming `who`, rather than a wait that ends at
 * once or never.
 */
export function checkWaitTimeout(who: string, timeoutMs: unknown): void {
  if (timeoutMs === undefined) return;
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0)) {
    throw new TypeError(
      `${who}: waitFor timeoutMs must be a number >= 0; got ${String(timeoutMs)}`,
    );
  }
}

/** A cancellable timer. */
export interface LongTimer {
  clear(): void;
}

/**
 * `setTimeout` for any delay: a longer one than Node's timers allow is a chain of timers, and
 * `Infinity` never fires. Connectors use it for `waitFor` deadlines.
 */
export function longTimeout(fn: () => void, ms: number): LongTimer {
  let timer: NodeJS.Timeout | undefined;
  const arm = (left: number) => {
    timer =
      left > MAX_TIMER_MS
        ? setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS)
        : setTimeout(fn, left);
  };
  if (ms !== Number.POSITIVE_INFINITY) arm(ms);
  return { clear: () => clearTimeout(timer) };
}
