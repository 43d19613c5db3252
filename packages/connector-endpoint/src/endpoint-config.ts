import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isUuid, ProxyStoreError } from '@proxy/core';
import { parse, stringify } from 'smol-toml';
import { endpointPaths, proxyHome } from './home.js';

export type StorageKind = 'memory' | 'file';

/** What `config.toml` of one endpoint holds. */
export interface EndpointConfig {
  name: string;
  uuid: string;
  host: string;
  port: number;
  /** Clients must send `Authorization: Bearer <token>` when set. */
  token?: string;
  /** A download whose client reads nothing for this long is dropped, in ms (default 60 s). */
  sendTimeoutMs?: number;
  storage: {
    kind: StorageKind;
    /** Where the file storage keeps objects (default `<home>/<name>/data`). */
    dataDir?: string;
    /** Largest object accepted, in bytes (default 100 MB, as ProxyStore). */
    maxObjectSize: number;
  };
}

export const DEFAULT_MAX_OBJECT_SIZE = 100_000_000;
const NAME = /^[A-Za-z0-9_-]+$/;

/** A missing or malformed endpoint config (name, uuid, port, storage…). */
export class EndpointConfigError extends ProxyStoreError {
  override readonly code: string = 'PROXY_ENDPOINT_CONFIG';
}

export function assertEndpointName(name: string): void {
  if (!NAME.test(name))
    throw new EndpointConfigError(`Endpoint name "${name}" must match [A-Za-z0-9_-]+`);
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** `1048576`, `100MB`, `1.5 GiB` → bytes. */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new EndpointConfigError(
      `Cannot read size "${text}" (use bytes or a unit: KB, MB, GB, KiB, MiB, GiB)`,
    );
  return Math.floor(Number(m[1]) * unit);
}

/** Checks a parsed config (from TOML or from code) and fills defaults. */
export function validateConfig(raw: Record<string, unknown>, where: string): EndpointConfig {
  const fail = (what: string): never => {
    throw new EndpointConfigError(`${where}: ${what}`);
  };
  const name = raw.name;
  if (typeof name !== 'string' || !NAME.test(name))
    fail(`"name" must match [A-Za-z0-9_-]+, got ${JSON.stringify(name)}`);
  if (!isUuid(raw.uuid)) fail(`"uuid" must be a uuid, got ${JSON.stringify(raw.uuid)}`);
  if (typeof raw.host !== 'string' || raw.host.length === 0)
    fail('"host" must be a non-empty string');
  const port = Number(raw.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    fail(`"port" must be in 1-65535, got ${JSON.stringify(raw.port)}`);
  if (raw.token !== undefined && (typeof raw.token !== 'string' || raw.token.length === 0))
    fail('"token" must be a non-empty string');
  const sendTimeout = raw.send_timeout_ms ?? raw.sendTimeoutMs;
  if (
    sendTimeout !== undefined &&
    (typeof sendTimeout !== 'number' || !Number.isFinite(sendTimeout) || sendTimeout <= 0)
  )
    fail('"send_timeout_ms" must be a positive number of milliseconds');
  const storage = (raw.storage ?? {}) as Record<string, unknown>;
  const kind = storage.kind ?? 'memory';
  if (kind !== 'memory' && kind !== 'file')
    fail(`"storage.kind" must be "memory" or "file", got ${JSON.stringify(kind)}`);
  const maxObjectSize = Number(
    storage.max_object_size ?? storage.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE,
  );
  if (!Number.isSafeInteger(maxObjectSize) || maxObjectSize < 1)
    fail('"storage.max_object_size" must be a positive integer (bytes)');
  const dataDir = storage.data_dir ?? storage.dataDir;
  if (dataDir !== undefined && typeof dataDir !== 'string')
    fail('"storage.data_dir" must be a path');
  return {
    name: name as string,
    uuid: raw.uuid as string,
    host: raw.host as string,
    port,
    ...(raw.token !== undefined && { token: raw.token as string }),
    ...(sendTimeout !== undefined && { sendTimeoutMs: sendTimeout as number }),
    storage: {
      kind: kind as StorageKind,
      maxObjectSize,
      ...(dataDir !== undefined && { dataDir: dataDir as string }),
    },
  };
}

export function readConfig(name: string, home = proxyHome()): EndpointConfig {
  assertEndpointName(name);
  const file = endpointPaths(name, home).config;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new EndpointConfigError(
        `No endpoint named "${name}" in ${home} (run \`proxy-endpoint configure ${name}\`)`,
      );
    }
    throw error;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new EndpointConfigError(`${file} is not valid TOML: ${(error as Error).message}`);
  }
  return validateConfig(parsed, file);
}

export function writeConfig(config: EndpointConfig, home = proxyHome()): string {
  const paths = endpointPaths(config.name, home);
  fs.mkdirSync(paths.dir, { recursive: true });
  const doc: Record<string, unknown> = {
    name: config.name,
    uuid: config.uuid,
    host: config.host,
    port: config.port,
    ...(config.token !== undefined && { token: config.token }),
    ...(config.sendTimeoutMs !== undefined && { send_timeout_ms: config.sendTimeoutMs }),
    storage: {
      kind: config.storage.kind,
      max_object_size: config.storage.maxObjectSize,
      ...(config.storage.dataDir !== undefined && { data_dir: config.storage.dataDir }),
    },
  };
  // The file may hold the token: readable by its owner only.
  fs.writeFileSync(paths.config, `${stringify(doc)}\n`, { mode: 0o600 });
  return paths.config;
}

export interface NewConfigOptions {
  host?: string;
  port: number;
  storage?: StorageKind;
  dataDir?: string;
  maxObjectSize?: number;
  token?: string;
}

/** A config for a new endpoint: a fresh uuid, defaults for what was not given. */
export function newConfig(name: string, options: NewConfigOptions): EndpointConfig {
  assertEndpointName(name);
  return validateConfig(
    {
      name,
      uuid: randomUUID(),
      host: options.host ?? '127.0.0.1',
      port: options.port,
      token: options.token,
      storage: {
        kind: options.storage ?? 'memory',
        max_object_size: options.maxObjectSize ?? DEFAULT_MAX_OBJECT_SIZE,
        data_dir: options.dataDir === undefined ? undefined : path.resolve(options.dataDir),
      },
    },
    `endpoint "${name}"`,
  );
}

/** Every endpoint folder in the home; unreadable ones come back with their error. */
export function listConfigs(
  home = proxyHome(),
): { name: string; config?: EndpointConfig; error?: string }[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(home, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .map((name) => {
      try {
        return { name, config: readConfig(name, home) };
      } catch (error) {
        return { name, error: (error as Error).message };
      }
    });
}
