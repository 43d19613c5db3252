import {
  type ConnectorKey,
  FutureTimeoutError,
  formatKey,
  isDeferrable,
  type Store,
} from '@proxy/core';
import type { Polling } from './polling.js';

export interface WaitForKeyOptions {
  /** Give up after this long with `FutureTimeoutError`; undefined waits forever. */
  timeoutMs?: number;
  /** Aborting rejects with `signal.reason` (an `AbortError` unless the caller chose another). */
  signal?: AbortSignal;
  polling: Polling;
}

export function futureTimeout(
  store: Store,
  key: ConnectorKey,
  timeoutMs: number,
  cause?: unknown,
): FutureTimeoutError {
  return new FutureTimeoutError(
    `Future key=${formatKey(key)} in Store "${store.name}" (${store.connector.constructor.name}) was not set within ${timeoutMs} ms. ` +
      'Check that the producer ran setResult, or allow more time with timeoutMs.',
    cause === undefined ? undefined : { cause },
  );
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function poll(store: Store, key: ConnectorKey, options: WaitForKeyOptions): Promise<void> {
  const { timeoutMs, signal, polling } = options;
  const deadline =
    timeoutMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + timeoutMs;
  let delay = polling.pollingIntervalMs;
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    if (await store.connector.exists(key)) return;
    const remaining = deadline - performance.now();
    if (remaining <= 0) throw futureTimeout(store, key, timeoutMs!);
    await sleep(Math.min(delay, remaining), signal);
    delay = Math.min(delay * polling.pollingBackoffFactor, polling.pollingIntervalLimitMs);
  }
}

/**
 * Resolves once `key` has data in `store`: through the connector's `waitFor` (no polling)
 * when it has one, else by polling `exists` with backoff.
 */
export async function waitForKey(
  store: Store,
  key: ConnectorKey,
  options: WaitForKeyOptions,
): Promise<void> {
  const { timeoutMs, signal } = options;
  if (signal?.aborted) throw signal.reason;
  store.connector.validateKey?.(key);
  if (store.isCached(key)) return;
  const connector = store.connector;
  if (!isDeferrable(connector) || typeof connector.waitFor !== 'function')
    return poll(store, key, options);
  try {
    await connector.waitFor(key, { timeoutMs, signal });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (FutureTimeoutError.is(error)) throw futureTimeout(store, key, timeoutMs ?? 0, error);
    throw error;
  }
}
