import { type LongTimer, longTimeout } from '@proxy/core';
import type { Cluster, Redis } from 'ioredis';

/**
 * How `waitFor` waits without polling:
 *
 * - the writer (`RedisConnector.set`) runs `SET key value; DEL sig; RPUSH sig 1; PEXPIRE sig n`
 *   in one MULTI, where `sig` is the key's companion list (inside the keyPrefix, same hash slot);
 * - the waiter first checks `EXISTS key` (a waiter that arrives after the write returns at
 *   once), then blocks on a dedicated connection with `BLMOVE sig sig RIGHT LEFT timeout`.
 *   BLMOVE rotates the list onto itself, so the element is never consumed: every blocked
 *   waiter wakes, and a waiter that checked EXISTS just before the write still finds it;
 * - the server enforces the timeout; a client-side guard (timeout + `guardMs`) covers a hung
 *   server; aborting disconnects the dedicated connection, which ends the blocking call.
 *
 * A value written by a client that does not signal (a plain SET, Python ProxyStore) is seen
 * at the deadline: the final EXISTS check resolves instead of timing out.
 *
 * Ending a wait (abort, `close()`) works at every step: the wait registers itself in `waits`
 * synchronously, before its first command; every command is raced against the end, and the
 * dedicated connection is never opened once the wait has ended.
 */
export interface WaitForKeyParams {
  client: Redis | Cluster;
  redisKey: string;
  signalKey: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Pending waits, so `close()` can end them (each is registered before its first command). */
  waits: Set<PendingWait>;
  /** Turns a client error into the connector's typed error. */
  fail: (operation: string, error: unknown) => Error;
  timeoutError: (timeoutMs: number) => Error;
  /** The error a wait ended by `close()` rejects with. */
  closedError: () => Error;
  guardMs?: number;
}

/** A wait in progress: `end()` rejects it with the connector's "closed" error at once. */
export interface PendingWait {
  end(): void;
}

function dedicatedConnection(client: Redis | Cluster): Redis | Cluster {
  // No command timeout on a connection whose only command is meant to block.
  const blocker = client.isCluster
    ? (client as Cluster).duplicate([], {
        lazyConnect: true,
        redisOptions: { ...(client as Cluster).options.redisOptions, commandTimeout: undefined },
      })
    : (client as Redis).duplicate({
        lazyConnect: true,
        commandTimeout: undefined,
        connectionName: 'proxy-connector-redis-wait',
      });
  blocker.on('error', () => {});
  return blocker;
}

/** ioredis arms a 2 s timer on every disconnect() of an open stream; a second call would leave one behind. */
export function disconnectOnce(connection: Redis | Cluster): void {
  if (connection.status !== 'end' && connection.status !== 'close') connection.disconnect();
}

export async function waitForKey(params: WaitForKeyParams): Promise<void> {
  const { client, redisKey, signalKey, timeoutMs, signal, waits, fail } = params;
  signal?.throwIfAborted();
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;

  // Everything up to the first await runs in the caller's tick: a close() right after
  // waitFor() already finds this wait registered.
  let blocker: Redis | Cluster | undefined;
  let halted = false;
  let haltReason: unknown;
  let rejectHalted!: (reason: unknown) => void;
  const haltedPromise = new Promise<never>((_, reject) => {
    rejectHalted = reject;
  });
  haltedPromise.catch(() => {});
  const halt = (reason: unknown) => {
    if (halted) return;
    halted = true;
    haltReason = reason;
    rejectHalted(reason);
    if (blocker) disconnectOnce(blocker);
  };
  const pending: PendingWait = { end: () => halt(params.closedError()) };
  const onAbort = () => halt(signal!.reason);
  waits.add(pending);
  signal?.addEventListener('abort', onAbort, { once: true });
  const throwIfHalted = () => {
    if (halted) throw haltReason;
  };
  /** `command`, or the end of the wait if that comes first (the command's outcome is then ignored). */
  const step = <T>(command: Promise<T>): Promise<T> => {
    command.catch(() => {});
    return Promise.race([command, haltedPromise]);
  };
  const exists = async (): Promise<boolean> => {
    let found: number;
    try {
      found = await step(client.exists(redisKey));
    } catch (error) {
      throwIfHalted();
      throw fail('waitFor (EXISTS)', error);
    }
    throwIfHalted();
    return found === 1;
  };

  let guard: LongTimer | undefined;
  let guardFired = false;
  try {
    if (await exists()) return;
    throwIfHalted();
    blocker = dedicatedConnection(client);
    const remaining = deadline - Date.now();
    // BLMOVE takes seconds (decimals allowed); 0 blocks forever, so never send 0 for a finite wait.
    const seconds = Number.isFinite(remaining) ? Math.max(remaining, 1) / 1000 : 0;
    if (Number.isFinite(remaining)) {
      const connection = blocker;
      guard = longTimeout(
        () => {
          guardFired = true;
          disconnectOnce(connection);
        },
        Math.max(remaining, 1) + (params.guardMs ?? 2000),
      );
    }
    let moved: string | null;
    try {
      moved = await step(blocker.blmove(signalKey, signalKey, 'RIGHT', 'LEFT', seconds));
    } catch (error) {
      throwIfHalted();
      if (!guardFired) throw fail('waitFor (BLMOVE)', error);
      moved = null;
    }
    throwIfHalted();
    if (moved !== null) return;
    if (await exists()) return;
    throw params.timeoutError(timeoutMs ?? 0);
  } finally {
    guard?.clear();
    signal?.removeEventListener('abort', onAbort);
    waits.delete(pending);
    if (blocker) disconnectOnce(blocker);
  }
}
