import { randomUUID } from 'node:crypto';
import {
  type ConnectorConfig,
  ConnectorError,
  checkWaitTimeout,
  type DeferrableConnector,
  FutureTimeoutError,
  formatKey,
  type WaitOptions,
} from '@proxy/core';
import { Cluster, Redis } from 'ioredis';
import { groupBySlot } from './key-slot.js';
import { assertRedisKey, type RedisKey, readySignalKey, redisKeyName } from './redis-key.js';
import {
  configOptions,
  describeAddress,
  ioredisOptions,
  type RedisConnectorOptions,
  type ResolvedRedisOptions,
  resolveOptions,
  ttlMilliseconds,
} from './redis-options.js';
import { SetPartsCommand } from './set-parts-command.js';
import { type PendingWait, waitForKey } from './wait-for-key.js';

type Client = Redis | Cluster;

/** ioredis takes Buffers; a Uint8Array view is wrapped without copying its bytes. */
function asBuffer(data: Uint8Array): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (!(data instanceof Uint8Array))
    throw new TypeError(`RedisConnector stores Uint8Array values; got ${typeof data}`);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A connector on Redis (standalone or Cluster) through ioredis. Values are binary; keys are
 * `{ redisKey }` holding the bare Redis key name (a uuid, after an optional `keyPrefix`),
 * as Python ProxyStore writes them, so both languages can share one database.
 */
export class RedisConnector implements DeferrableConnector<RedisKey> {
  static readonly packageName = '@proxy/connector-redis';
  /** The ioredis client (owned unless it was injected). */
  readonly client: Client;
  /** Where this connector talks to, e.g. `redis://127.0.0.1:6379/0` (never with a password). */
  readonly address: string;
  readonly keyPrefix: string;
  readonly ttlSeconds: number | undefined;
  private readonly resolved: ResolvedRedisOptions;
  private readonly ownsClient: boolean;
  /** `waitFor` calls in progress, ended by `close()`. */
  private readonly waits = new Set<PendingWait>();
  /** `ttlSeconds` in whole milliseconds (`SET … PX`), undefined without a TTL. */
  private readonly ttlMs: number | undefined;
  private closed = false;

  constructor(options: RedisConnectorOptions = {}) {
    this.resolved = resolveOptions(options);
    const o = this.resolved;
    this.keyPrefix = o.keyPrefix;
    this.ttlSeconds = o.ttlSeconds;
    this.ttlMs = o.ttlSeconds === undefined ? undefined : ttlMilliseconds(o.ttlSeconds);
    this.address = describeAddress(o);
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      const redisOptions = ioredisOptions(o);
      this.client = o.cluster
        ? new Cluster(o.cluster, {
            redisOptions,
            lazyConnect: true,
            // Commands issued in the same tick go to each node as one pipeline: batches split
            // by slot still cost one round trip per node.
            enableAutoPipelining: true,
            clusterRetryStrategy: (times: number) => Math.min(times * 50, o.reconnectMaxDelayMs),
          })
        : new Redis({ ...redisOptions, host: o.host, port: o.port, db: o.db });
      this.ownsClient = true;
      // Errors reach callers through rejected commands; without a listener ioredis would
      // also print every reconnect failure.
      this.client.on('error', () => {});
    }
  }

  static fromConfig(options: Record<string, unknown>): RedisConnector {
    return new RedisConnector(options as RedisConnectorOptions);
  }

  /**
   * `{ module, type, options }` to rebuild this connector elsewhere. Contains the address,
   * db, username, TLS, keyPrefix, TTL and timeouts; a `password` given as an option or in
   * the url is included in plain text, `passwordEnv` only by name, and an injected client's
   * password never.
   */
  config(): ConnectorConfig {
    return {
      module: RedisConnector.packageName,
      type: 'RedisConnector',
      options: configOptions(this.resolved),
    };
  }

  validateKey(key: unknown): asserts key is RedisKey {
    assertRedisKey(key, this.keyPrefix);
  }

  /** The checked key name; every command uses it, never a second read of `key.redisKey`. */
  private nameOf(key: unknown): string {
    return redisKeyName(key, this.keyPrefix);
  }

  private get isCluster(): boolean {
    return this.client.isCluster;
  }

  private fail(operation: string, error: unknown, key?: unknown): ConnectorError {
    const message = (error as Error)?.message ?? String(error);
    const what = key === undefined ? '' : ` key=${formatKey(key)}`;
    return new ConnectorError(
      `RedisConnector (${this.address}): ${operation}${what} failed: ${message}. Check that Redis is reachable at ${this.address}.`,
      { cause: error },
    );
  }

  private async run<T>(operation: string, key: unknown, command: () => Promise<T>): Promise<T> {
    if (this.closed)
      throw new ConnectorError(`RedisConnector (${this.address}): ${operation} after close()`);
    try {
      return await command();
    } catch (error) {
      throw this.fail(operation, error, key);
    }
  }

  private newName(): string {
    return `${this.keyPrefix}${randomUUID()}`;
  }

  /** The signal list of a key name (inside the keyPrefix; see `readySignalKey`). */
  private signalOf(name: string): { name: string; coLocated: boolean } {
    return readySignalKey(name, this.keyPrefix);
  }

  // TTLs go out as whole milliseconds (PX): Redis rejects `EX 1.5`, and fractional seconds
  // are valid options.
  private setArgs(name: string, value: Buffer): Promise<unknown> {
    return this.ttlMs === undefined
      ? this.client.set(name, value)
      : this.client.set(name, value, 'PX', this.ttlMs);
  }

  async put(data: Uint8Array): Promise<RedisKey> {
    const value = asBuffer(data);
    const key = { redisKey: this.newName() };
    await this.run('put (SET)', key, () => this.setArgs(key.redisKey, value));
    return key;
  }

  /**
   * `put` of the concatenation of `parts` (the store's [header, payload] for raw bytes). The
   * SET is framed for Redis straight from the parts, so the value is copied once, as a plain
   * `set` of one Buffer is, and never joined first.
   */
  async putParts(parts: readonly Uint8Array[]): Promise<RedisKey> {
    if (parts.length === 1) return this.put(parts[0]!);
    const key = { redisKey: this.newName() };
    const rest = this.ttlMs === undefined ? [] : ['PX', String(this.ttlMs)];
    const command = new SetPartsCommand(key.redisKey, parts, rest);
    await this.run('put (SET)', key, async () => this.client.sendCommand(command));
    return key;
  }

  async get(key: RedisKey): Promise<Uint8Array | null> {
    const name = this.nameOf(key);
    return this.run('get (GET)', { redisKey: name }, () => this.client.getBuffer(name));
  }

  async exists(key: RedisKey): Promise<boolean> {
    const name = this.nameOf(key);
    const found = await this.run('exists (EXISTS)', { redisKey: name }, () =>
      this.client.exists(name),
    );
    return found === 1;
  }

  async evict(key: RedisKey): Promise<void> {
    const name = this.nameOf(key);
    const signal = this.signalOf(name);
    await this.run('evict (DEL)', { redisKey: name }, async () => {
      if (!this.isCluster || signal.coLocated) await this.client.del(name, signal.name);
      else await Promise.all([this.client.del(name), this.client.del(signal.name)]);
    });
  }

  async evictBatch(keys: RedisKey[]): Promise<void> {
    const keyNames = keys.map((k) => this.nameOf(k));
    if (keyNames.length === 0) return;
    const names = keyNames.flatMap((name) => [name, this.signalOf(name).name]);
    await this.run(`evictBatch (DEL ${keys.length} keys)`, undefined, async () => {
      if (!this.isCluster) {
        await this.client.del(...names);
        return;
      }
      await Promise.all(
        groupBySlot(names).map((group) => this.client.del(...group.map((i) => names[i]!))),
      );
    });
  }

  async expire(key: RedisKey, seconds: number): Promise<void> {
    const name = this.nameOf(key);
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
      throw new TypeError(
        `RedisConnector.expire: seconds must be a non-negative number; got ${seconds}`,
      );
    }
    // PEXPIRE keeps sub-second leases; 0 deletes the key at once, as Redis does.
    await this.run('expire (PEXPIRE)', { redisKey: name }, () =>
      this.client.pexpire(name, Math.round(seconds * 1000)),
    );
  }

  /**
   * Writes all values in one round trip: one MSET (atomic) without a TTL, one MULTI of
   * `SET … PX` with one. On a cluster the keys are grouped by hash slot (one MSET/MULTI per
   * slot, auto-pipelined per node); a failed batch deletes what it wrote.
   */
  async putBatch(data: Uint8Array[]): Promise<RedisKey[]> {
    const values = data.map(asBuffer);
    const names = values.map(() => this.newName());
    if (names.length === 0) return [];
    const write = (indices: number[]): Promise<unknown> => {
      const ttlMs = this.ttlMs;
      if (ttlMs === undefined) {
        return this.client.mset(indices.flatMap((i) => [names[i]!, values[i]!]));
      }
      const multi = this.client.multi();
      for (const i of indices) multi.set(names[i]!, values[i]!, 'PX', ttlMs);
      return multi.exec().then((replies) => {
        const failed = replies?.find(([error]) => error);
        if (!replies || failed) throw failed?.[0] ?? new Error('transaction aborted');
      });
    };
    const all = names.map((_, i) => i);
    try {
      await this.run(`putBatch (${names.length} values)`, undefined, async () => {
        if (!this.isCluster) await write(all);
        else await Promise.all(groupBySlot(names).map(write));
      });
    } catch (error) {
      if (this.isCluster)
        await this.evictBatch(names.map((redisKey) => ({ redisKey }))).catch(() => {});
      throw error;
    }
    return names.map((redisKey) => ({ redisKey }));
  }

  /** Reads all values in one MGET (grouped by slot on a cluster); missing keys give null. */
  async getBatch(keys: RedisKey[]): Promise<(Uint8Array | null)[]> {
    const names = keys.map((k) => this.nameOf(k));
    if (names.length === 0) return [];
    return this.run(`getBatch (${keys.length} keys)`, undefined, async () => {
      if (!this.isCluster) return this.client.mgetBuffer(names);
      const out: (Buffer | null)[] = new Array(names.length).fill(null);
      await Promise.all(
        groupBySlot(names).map(async (group) => {
          const got = await this.client.mgetBuffer(group.map((i) => names[i]!));
          group.forEach((i, j) => {
            out[i] = got[j] ?? null;
          });
        }),
      );
      return out;
    });
  }

  async newKey(): Promise<RedisKey> {
    return { redisKey: this.newName() };
  }

  /** Writes the value, then signals `waitFor` waiters through the key's companion list (one MULTI). */
  async set(key: RedisKey, data: Uint8Array): Promise<void> {
    const name = this.nameOf(key);
    const value = asBuffer(data);
    const signal = this.signalOf(name);
    // Whole milliseconds, validated at construction: PEXPIRE cannot reject it after the SET ran.
    const signalTtlMs = ttlMilliseconds(this.resolved.readySignalTtlSeconds);
    await this.run('set (MULTI SET/RPUSH)', { redisKey: name }, async () => {
      const sameSlot = !this.isCluster || signal.coLocated;
      const multi = this.client.multi();
      if (this.ttlMs === undefined) multi.set(name, value);
      else multi.set(name, value, 'PX', this.ttlMs);
      if (!sameSlot) {
        await this.execOrThrow(multi);
        const signalOnly = this.client.multi();
        signalOnly.del(signal.name).rpush(signal.name, '1').pexpire(signal.name, signalTtlMs);
        await this.execOrThrow(signalOnly);
        return;
      }
      multi.del(signal.name).rpush(signal.name, '1').pexpire(signal.name, signalTtlMs);
      await this.execOrThrow(multi);
    });
  }

  private async execOrThrow(multi: ReturnType<Client['multi']>): Promise<void> {
    const replies = await multi.exec();
    if (!replies) throw new Error('transaction aborted');
    const failed = replies.find(([error]) => error);
    if (failed) throw failed[0];
  }

  /** Resolves once `key` has a value; see wait-for-key.ts for the design (no polling). */
  async waitFor(key: RedisKey, options: WaitOptions = {}): Promise<void> {
    const name = this.nameOf(key);
    checkWaitTimeout('RedisConnector', options.timeoutMs);
    if (this.closed)
      throw new ConnectorError(`RedisConnector (${this.address}): waitFor after close()`);
    // waitForKey registers the wait in `waits` before its first await, so a close() from now
    // on ends it whatever step it has reached.
    await waitForKey({
      client: this.client,
      redisKey: name,
      signalKey: this.signalOf(name).name,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      waits: this.waits,
      fail: (operation, error) => this.fail(operation, error, { redisKey: name }),
      closedError: () =>
        new ConnectorError(
          `RedisConnector (${this.address}): waitFor key=${formatKey({ redisKey: name })} ended by close()`,
        ),
      timeoutError: (ms) =>
        new FutureTimeoutError(
          `RedisConnector (${this.address}): key=${formatKey({ redisKey: name })} was not set within ${ms} ms`,
        ),
    });
  }

  /**
   * Ends pending `waitFor` calls and closes the client if this connector created it (an
   * injected client stays open: its owner closes it). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Each pending wait rejects at once and closes its dedicated connection (or never opens one).
    for (const wait of [...this.waits]) wait.end();
    this.waits.clear();
    if (!this.ownsClient) return;
    if (this.client.status === 'ready') {
      try {
        await this.client.quit();
        return;
      } catch {
        // Fall through: the connection is already gone.
      }
    }
    this.client.disconnect();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toString(): string {
    return `RedisConnector(${this.address})`;
  }
}
