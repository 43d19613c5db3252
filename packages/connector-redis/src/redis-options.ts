import type { Cluster, Redis, RedisOptions } from 'ioredis';

/** One node of a Redis Cluster (a startup node: ioredis discovers the rest). */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/** TLS settings as plain JSON (PEM strings), so they survive `config()`. `true` means default TLS. */
export interface RedisTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
}

export interface RedisConnectorOptions {
  /** `redis://[user[:password]@]host[:port][/db]` or `rediss://…` (TLS). Excludes host/port/cluster. */
  url?: string;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 6379. */
  port?: number;
  username?: string;
  /** Sent with AUTH. **Copied into `config()` in plain text**: prefer `passwordEnv` when configs travel. */
  password?: string;
  /** Name of an environment variable holding the password; `config()` carries only the name. */
  passwordEnv?: string;
  /** Logical database (standalone only). Default 0. */
  db?: number;
  tls?: boolean | RedisTlsOptions;
  /** Prepended to every key this connector creates. Default none: keys are bare uuids, as ProxyStore writes them. */
  keyPrefix?: string;
  /** Expiry set on every value written (a safety net against leaks). Default none. */
  ttlSeconds?: number;
  /** Startup nodes of a Redis Cluster; uses ioredis `Cluster`. Excludes url/host/port/db. */
  cluster?: RedisNodeAddress[];
  /** An existing ioredis `Redis` or `Cluster`. Not closed by `close()`; its password never goes into `config()`. */
  client?: Redis | Cluster;
  /** How long connecting may take before the attempt fails. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** A command without a reply after this long fails (a hung server). Default 30 000 ms; 0 disables. */
  commandTimeoutMs?: number;
  /** Failed reconnection attempts a queued command waits through before failing. Default 1. */
  maxRetriesPerRequest?: number;
  /** Upper bound of the reconnect backoff (50 ms, 100 ms, … up to this). Default 1000 ms. */
  reconnectMaxDelayMs?: number;
  /** Lifetime of the `waitFor` signal list written by `set`. Default 60 s. */
  readySignalTtlSeconds?: number;
}

/** The validated, defaulted connection settings (everything but an injected client). */
export interface ResolvedRedisOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  passwordEnv?: string;
  db: number;
  tls?: RedisTlsOptions;
  keyPrefix: string;
  ttlSeconds?: number;
  cluster?: RedisNodeAddress[];
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  maxRetriesPerRequest: number;
  reconnectMaxDelayMs: number;
  readySignalTtlSeconds: number;
  /** Whether the password came as a literal (then `config()` repeats it). */
  literalPassword: boolean;
}

function positive(name: string, value: number | undefined, allowZero = false): void {
  if (value === undefined) return;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (!allowZero && value === 0)
  ) {
    throw new TypeError(
      `RedisConnector option ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number; got ${value}`,
    );
  }
}

function parseUrl(url: string): Partial<ResolvedRedisOptions> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`RedisConnector option url is not a URL: ${url}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(
      `RedisConnector option url must start with redis:// or rediss://; got ${parsed.protocol}//`,
    );
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined;
  if (db !== undefined && !Number.isInteger(db))
    throw new TypeError(`RedisConnector url has a bad database number: ${url}`);
  return {
    host: parsed.hostname || undefined,
    port: parsed.port ? Number(parsed.port) : undefined,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
  };
}

/** Connection settings read back from an injected client (never its password). */
function fromClient(client: Redis | Cluster): Partial<ResolvedRedisOptions> {
  if (client.isCluster) {
    const cluster = client as Cluster;
    const masters = cluster.nodes('master');
    // Before the first command a lazy cluster knows only its startup nodes (not typed public).
    const startup = (cluster as unknown as { startupNodes?: unknown[] }).startupNodes ?? [];
    const nodes = masters.length
      ? masters.map((n) => ({ host: n.options.host ?? '127.0.0.1', port: n.options.port ?? 6379 }))
      : startup
          .filter((n): n is RedisNodeAddress => typeof n === 'object' && n !== null && 'port' in n)
          .map((n) => ({ host: n.host ?? '127.0.0.1', port: Number(n.port) }));
    if (nodes.length === 0)
      throw new TypeError(
        'RedisConnector: cannot read the address of the injected Cluster; pass { host, port } startup nodes to it',
      );
    const redisOptions = cluster.options.redisOptions ?? {};
    return {
      cluster: nodes,
      username: redisOptions.username,
      tls: redisOptions.tls ? {} : undefined,
    };
  }
  const o = (client as Redis).options;
  return {
    host: o.host,
    port: o.port,
    db: o.db,
    username: o.username,
    tls: o.tls ? {} : undefined,
  };
}

export function resolveOptions(options: RedisConnectorOptions): ResolvedRedisOptions {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('RedisConnector options must be an object');
  const { url, cluster, client } = options;
  const hasHostPort = options.host !== undefined || options.port !== undefined;
  if (url !== undefined && (hasHostPort || cluster))
    throw new TypeError('RedisConnector: give url, host/port or cluster, not several');
  if (cluster !== undefined && hasHostPort)
    throw new TypeError('RedisConnector: give host/port or cluster, not both');
  if (client !== undefined && (url !== undefined || hasHostPort || cluster)) {
    throw new TypeError(
      'RedisConnector: an injected client already knows its address; drop url/host/port/cluster',
    );
  }
  if (
    client !== undefined &&
    (typeof client !== 'object' || typeof (client as Redis).getBuffer !== 'function')
  ) {
    throw new TypeError('RedisConnector option client must be an ioredis Redis or Cluster');
  }
  if (client && (client.options as RedisOptions & { keyPrefix?: string }).keyPrefix) {
    throw new TypeError(
      'RedisConnector: the injected client has an ioredis keyPrefix; use RedisConnector keyPrefix instead',
    );
  }
  if (cluster !== undefined) {
    if (!Array.isArray(cluster) || cluster.length === 0)
      throw new TypeError(
        'RedisConnector option cluster must be a non-empty array of { host, port }',
      );
    for (const node of cluster) {
      if (typeof node?.host !== 'string' || !Number.isInteger(node.port)) {
        throw new TypeError(
          `RedisConnector cluster node must be { host: string, port: integer }; got ${JSON.stringify(node)}`,
        );
      }
    }
    if (options.db) throw new TypeError('RedisConnector: Redis Cluster has only database 0');
  }
  if (options.keyPrefix !== undefined && typeof options.keyPrefix !== 'string')
    throw new TypeError('RedisConnector option keyPrefix must be a string');
  if (
    options.passwordEnv !== undefined &&
    (typeof options.passwordEnv !== 'string' || !options.passwordEnv)
  ) {
    throw new TypeError(
      'RedisConnector option passwordEnv must be the name of an environment variable',
    );
  }
  if (options.password !== undefined && options.passwordEnv !== undefined)
    throw new TypeError('RedisConnector: give password or passwordEnv, not both');
  positive('port', options.port);
  positive('ttlSeconds', options.ttlSeconds);
  positive('connectTimeoutMs', options.connectTimeoutMs);
  positive('commandTimeoutMs', options.commandTimeoutMs, true);
  positive('maxRetriesPerRequest', options.maxRetriesPerRequest, true);
  positive('reconnectMaxDelayMs', options.reconnectMaxDelayMs);
  positive('readySignalTtlSeconds', options.readySignalTtlSeconds);
  if (options.db !== undefined && (!Number.isInteger(options.db) || options.db < 0)) {
    throw new TypeError(
      `RedisConnector option db must be a non-negative integer; got ${options.db}`,
    );
  }
  const base = client ? fromClient(client) : url !== undefined ? parseUrl(url) : {};
  const password = options.password ?? base.password;
  const tls =
    options.tls === true ? {} : options.tls === false ? undefined : (options.tls ?? base.tls);
  return {
    host: options.host ?? base.host ?? '127.0.0.1',
    port: options.port ?? base.port ?? 6379,
    username: options.username ?? base.username,
    password,
    passwordEnv: options.passwordEnv,
    db: options.db ?? base.db ?? 0,
    tls,
    keyPrefix: options.keyPrefix ?? '',
    ttlSeconds: options.ttlSeconds,
    cluster: cluster?.map((n) => ({ host: n.host, port: n.port })) ?? base.cluster,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    commandTimeoutMs: options.commandTimeoutMs ?? 30_000,
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? 1,
    reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 1000,
    readySignalTtlSeconds: options.readySignalTtlSeconds ?? 60,
    literalPassword: !client && password !== undefined,
  };
}

/** The password to send: the literal one, else the named environment variable's value. */
export function effectivePassword(o: ResolvedRedisOptions): string | undefined {
  if (o.password !== undefined) return o.password;
  if (o.passwordEnv === undefined) return undefined;
  const value = process.env[o.passwordEnv];
  if (value === undefined) {
    throw new TypeError(
      `RedisConnector: environment variable ${o.passwordEnv} (passwordEnv) is not set in this process`,
    );
  }
  return value;
}

/** The ioredis options of a connection this connector owns (per node, for a cluster). */
export function ioredisOptions(o: ResolvedRedisOptions): RedisOptions {
  return {
    username: o.username,
    password: effectivePassword(o),
    tls: o.tls ? { ...o.tls } : undefined,
    connectTimeout: o.connectTimeoutMs,
    commandTimeout: o.commandTimeoutMs > 0 ? o.commandTimeoutMs : undefined,
    maxRetriesPerRequest: o.maxRetriesPerRequest,
    retryStrategy: (times: number) => Math.min(times * 50, o.reconnectMaxDelayMs),
    lazyConnect: true,
    enableOfflineQueue: true,
    connectionName: 'proxy-connector-redis',
  };
}

/** `config().options`: plain JSON to rebuild an equivalent connector (see the README on secrets). */
export function configOptions(o: ResolvedRedisOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.cluster) out.cluster = o.cluster.map((n) => ({ ...n }));
  else {
    out.host = o.host;
    out.port = o.port;
    if (o.db) out.db = o.db;
  }
  if (o.username !== undefined) out.username = o.username;
  if (o.literalPassword) out.password = o.password;
  if (o.passwordEnv !== undefined) out.passwordEnv = o.passwordEnv;
  if (o.tls) out.tls = Object.keys(o.tls).length ? { ...o.tls } : true;
  if (o.keyPrefix) out.keyPrefix = o.keyPrefix;
  if (o.ttlSeconds !== undefined) out.ttlSeconds = o.ttlSeconds;
  out.connectTimeoutMs = o.connectTimeoutMs;
  out.commandTimeoutMs = o.commandTimeoutMs;
  out.maxRetriesPerRequest = o.maxRetriesPerRequest;
  out.reconnectMaxDelayMs = o.reconnectMaxDelayMs;
  out.readySignalTtlSeconds = o.readySignalTtlSeconds;
  return out;
}

/** Where the connector talks to, for error messages (never includes the password). */
export function describeAddress(o: ResolvedRedisOptions): string {
  if (o.cluster) return `redis-cluster://${o.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`;
  return `${o.tls ? 'rediss' : 'redis'}://${o.host}:${o.port}/${o.db}`;
}
