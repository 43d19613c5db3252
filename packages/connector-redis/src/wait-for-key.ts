import type { Cluster, Redis } from 'ioredis';

/**
 * How `waitFor` waits without polling:
 *
 * - the writer (`RedisConnector.set`) runs `SET key value; DEL sig; RPUSH sig 1; EXPIRE sig n`
 *   in one MULTI, where `sig` is the key's companion list (same hash slot);
 * - the waiter first checks `EXISTS key` (a waiter that arrives after the write returns at
 *   once), then blocks on a dedicated connection with `BLMOVE sig sig RIGHT LEFT timeout`.
 *   BLMOVE rotates the list onto itself, so the element is never consumed: every blocked
 *   waiter wakes, and a waiter that checked EXISTS just before the write still finds it;
 * - the server enforces the timeout; a client-side guard (timeout + `guardMs`) covers a hung
 *   server; aborting disconnects the dedicated connection, which ends the blocking call.
 *
 * A value written by a client that does not signal (a plain SET, Python ProxyStore) is seen
 * at the deadline: the final EXISTS check resolves instead of timing out.
 */
export interface WaitForKeyParams {
  client: Redis | Cluster;
  redisKey: string;
  signalKey: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Dedicated connections in use, so `close()` can end them. */
  blockers: Set<Redis | Cluster>;
  /** Turns a client error into the connector's typed error. */
  fail: (operation: string, error: unknown) => Error;
  timeoutError: (timeoutMs: number) => Error;
  guardMs?: number;
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
  const { client, redisKey, signalKey, timeoutMs, signal, blockers, fail } = params;
  signal?.throwIfAborted();
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
  const exists = async (): Promise<boolean> => {
    try {
      return (await client.exists(redisKey)) === 1;
    } catch (error) {
      throw fail('waitFor (EXISTS)', error);
    }
  };
  if (await exists()) return;
  signal?.throwIfAborted();

  const blocker = dedicatedConnection(client);
  blockers.add(blocker);
  let ended: 'abort' | 'guard' | undefined;
  const end = (why: 'abort' | 'guard') => {
    ended ??= why;
    disconnectOnce(blocker);
  };
  const onAbort = () => end('abort');
  signal?.addEventListener('abort', onAbort, { once: true });
  let guard: NodeJS.Timeout | undefined;
  try {
    const remaining = deadline - Date.now();
    // BLMOVE takes seconds (decimals allowed); 0 blocks forever, so never send 0 for a finite wait.
    const seconds = Number.isFinite(remaining) ? Math.max(remaining, 1) / 1000 : 0;
    if (Number.isFinite(remaining))
      guard = setTimeout(() => end('guard'), Math.max(remaining, 1) + (params.guardMs ?? 2000));
    let moved: string | null;
    try {
      moved = await blocker.blmove(signalKey, signalKey, 'RIGHT', 'LEFT', seconds);
    } catch (error) {
      if (ended === 'abort') throw signal!.reason;
      if (ended !== 'guard') throw fail('waitFor (BLMOVE)', error);
      moved = null;
    }
    if (moved !== null) return;
    if (await exists()) return;
    throw params.timeoutError(timeoutMs ?? 0);
  } finally {
    clearTimeout(guard);
    signal?.removeEventListener('abort', onAbort);
    blockers.delete(blocker);
    disconnectOnce(blocker);
  }
}
