/** How a consumer polls a store whose connector has no `waitFor`. */
export interface PollingOptions {
  /** First delay between two checks. Default 10 ms (ProxyStore: 1 s). */
  pollingIntervalMs?: number;
  /** Each delay is the previous one times this factor. Default 2 (ProxyStore: 1). */
  pollingBackoffFactor?: number;
  /** Upper bound of the delay. Default 1000 ms. */
  pollingIntervalLimitMs?: number;
}

/** Polling options with every default applied. Plain JSON: it travels with the future. */
export interface Polling {
  pollingIntervalMs: number;
  pollingBackoffFactor: number;
  pollingIntervalLimitMs: number;
}

export const DEFAULT_POLLING: Readonly<Polling> = {
  pollingIntervalMs: 10,
  pollingBackoffFactor: 2,
  pollingIntervalLimitMs: 1000,
};

function positive(name: string, value: unknown, min: number, minText: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new RangeError(
      `Future option ${name} must be a finite number ${minText}; got ${String(value)}`,
    );
  }
  return value;
}

/** Applies defaults and rejects values that would spin or never wake. */
export function resolvePolling(options: PollingOptions): Polling {
  const interval = positive(
    'pollingIntervalMs',
    options.pollingIntervalMs ?? DEFAULT_POLLING.pollingIntervalMs,
    0.001,
    '> 0',
  );
  const factor = positive(
    'pollingBackoffFactor',
    options.pollingBackoffFactor ?? DEFAULT_POLLING.pollingBackoffFactor,
    1,
    '>= 1',
  );
  const limit = positive(
    'pollingIntervalLimitMs',
    options.pollingIntervalLimitMs ?? Math.max(interval, DEFAULT_POLLING.pollingIntervalLimitMs),
    interval,
    `>= pollingIntervalMs (${interval})`,
  );
  return {
    pollingIntervalMs: interval,
    pollingBackoffFactor: factor,
    pollingIntervalLimitMs: limit,
  };
}

/** `undefined` (wait forever) or a finite number of milliseconds >= 0. */
export function checkTimeout(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  return positive(name, value, 0, '>= 0');
}
