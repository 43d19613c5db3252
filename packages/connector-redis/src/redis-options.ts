import type { Cluster, Redis, RedisOptions } from 'ioredis';

/** One node of a Redis Cluster (a startup node: ioredis discovers the rest). */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/**
 * TLS settings as plain JSON (PEM strings). `true` means default TLS. `config()` carries all of
 * them except the private key material (`key`, `pfx`, `passphrase`): give `tlsKeyEnv` so a
 * rebuilt connector can still present a client certificate.
 */
export interface RedisTlsOptions {
  ca?: string;
  cert?: string;
  /** The client certificate's private key (PEM). Never copied into `config()`. */
  key?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
}

/** TLS fields that hold private key material: used to connect, never copied into `config()`. */
const TLS_SECRET_FIELDS = ['key', 'pfx', 'passphrase'] as const;

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
  /**
   * Name of an environment variable holding the TLS client key (PEM), read where the
   * connector is built; `config()` carries only the name. Needs `tls` (or `rediss://`).
   */
  tlsKeyEnv?: string;
  /** Prepended to every key this connector creates. Default none: keys are bare uuids, as ProxyStore writes them. */
  keyPrefix?: string;
  /** Expiry set on every value written (a safety net against leaks); fractions allowed (sent as ms). Default none. */
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
  /** Lifetime of the `waitFor` signal list written by `set`; fractions allowed (sent as ms). Default 60 s. */
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
  tlsKeyEnv?: string;
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

/** The largest expiry (in seconds) whose millisecond count stays an exact integer. */
const MAX_TTL_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

/**
 * A TTL in seconds as the whole milliseconds sent with `PX` / `PEXPIRE` (Redis takes only
 * integers; `EX 1.5` is an error): rounded, and at least 1 ms so a tiny positive TTL never
 * becomes 0 (which `PEXPIRE` treats as "delete now" and `SET … PX` rejects).
 */
export function ttlMilliseconds(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1000));
}

function ttl(name: string, value: number | undefined): void {
  positive(name, value);
  if (value !== undefined && value > MAX_TTL_SECONDS)
    throw new TypeError(
      `RedisConnector option ${name} must be at most ${MAX_TTL_SECONDS} seconds; got ${value}`,
    );
}

function envName(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || !value))
    throw new TypeError(
      `RedisConnector option ${name} must be the name of an environment variable`,
    );
}

/** A URL's host without the brackets of an IPv6 literal (`[::1]` → `::1`). */
function urlHost(parsed: URL): string | undefined {
  const host = parsed.hostname;
  if (!host) return undefined;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
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
    host: urlHost(parsed),
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
  envName('passwordEnv', options.passwordEnv);
  envName('tlsKeyEnv', options.tlsKeyEnv);
  if (options.password !== undefined && options.passwordEnv !== undefined)
    throw new TypeError('RedisConnector: give password or passwordEnv, not both');
  positive('port', options.port);
  ttl('ttlSeconds', options.ttlSeconds);
  positive('connectTimeoutMs', options.connectTimeoutMs);
  positive('commandTimeoutMs', options.commandTimeoutMs, true);
  positive('maxRetriesPerRequest', options.maxRetriesPerRequest, true);
  positive('reconnectMaxDelayMs', options.reconnectMaxDelayMs);
  ttl('readySignalTtlSeconds', options.readySignalTtlSeconds);
  if (options.db !== undefined && (!Number.isInteger(options.db) || options.db < 0)) {
    throw new TypeError(
      `RedisConnector option db must be a non-negative integer; got ${options.db}`,
    );
  }
  const base = client ? fromClient(client) : url !== undefined ? parseUrl(url) : {};
  const password = options.password ?? base.password;
  if (
    options.tls !== undefined &&
    typeof options.tls !== 'boolean' &&
    (typeof options.tls !== 'object' || options.tls === null || Array.isArray(options.tls))
  ) {
    throw new TypeError('RedisConnector option tls must be true, false or an object');
  }
  const tls =
    options.tls === true ? {} : options.tls === false ? undefined : (options.tls ?? base.tls);
  if (options.tlsKeyEnv !== undefined) {
    if (!tls)
      throw new TypeError(
        'RedisConnector option tlsKeyEnv needs TLS: set tls (or use a rediss:// url)',
      );
    if (tls.key !== undefined)
      throw new TypeError('RedisConnector: give tls.key or tlsKeyEnv, not both');
  }
  return {
    host: options.host ?? base.host ?? '127.0.0.1',
    port: options.port ?? base.port ?? 6379,
    username: options.username ?? base.username,
    password,
    passwordEnv: options.passwordEnv,
    db: options.db ?? base.db ?? 0,
    tls,
    tlsKeyEnv: options.tlsKeyEnv,
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

function fromEnv(option: string, variable: string): string {
  const value = process.env[variable];
  if (value === undefined) {
    throw new TypeError(
      `RedisConnector: environment variable ${variable} (${option}) is not set in this process`,
    );
  }
  return value;
}

/** The password to send: the literal one, else the named environment variable's value. */
export function effectivePassword(o: ResolvedRedisOptions): string | undefined {
  if (o.password !== undefined) return o.password;
  if (o.passwordEnv === undefined) return undefined;
  return fromEnv('passwordEnv', o.passwordEnv);
}

/** The TLS settings to connect with: the given ones, plus the key read from `tlsKeyEnv`. */
export function effectiveTls(o: ResolvedRedisOptions): Record<string, unknown> | undefined {
  if (!o.tls) return undefined;
  const tls: Record<string, unknown> = { ...o.tls };
  if (o.tlsKeyEnv !== undefined) tls.key = fromEnv('tlsKeyEnv', o.tlsKeyEnv);
  return tls;
}

/** The ioredis options of a connection this connector owns (per node, for a cluster). */
export function ioredisOptions(o: ResolvedRedisOptions): RedisOptions {
  return {
    username: o.username,
    password: effectivePassword(o),
    tls: effectiveTls(o),
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
  if (o.tls) {
    // Private key material never travels; tlsKeyEnv (below) names where to find the key.
    const tls: Record<string, unknown> = { ...o.tls };
    for (const field of TLS_SECRET_FIELDS) delete tls[field];
    out.tls = Object.keys(tls).length ? tls : true;
  }
  if (o.tlsKeyEnv !== undefined) out.tlsKeyEnv = o.tlsKeyEnv;
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
  // An IPv6 literal is written in brackets, as in a URL.
  const hostPort = (host: string, port: number) =>
    `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (o.cluster)
    return `redis-cluster://${o.cluster.map((n) => hostPort(n.host, n.port)).join(',')}`;
  return `${o.tls ? 'rediss' : 'redis'}://${hostPort(o.host, o.port)}/${o.db}`;
}
