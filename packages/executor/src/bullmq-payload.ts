import type { RemoteErrorData, ResultPolicy } from './call.js';

/** A BullMQ job's data: the task reference, small serialized arguments, and the result policy. */
export interface JobPayload {
  /** Payload format version. */
  v: 1;
  module: string;
  export: string;
  /** Core-serialized argument list, base64. Proxies inside are only their factories. */
  args: string;
  result?: ResultPolicy;
  /** Results larger than this are proxied into `result.store` rather than written to Redis. */
  maxResultBytes: number;
  /**
   * Written by the worker when the task throws: the whole error (name, code, cause), which
   * BullMQ's own record of a failure (message and stack) would lose.
   */
  error?: RemoteErrorData;
}

/** A BullMQ job's return value. */
export interface JobReturn {
  /** Core-serialized result, base64. */
  value: string;
}

export const DEFAULT_QUEUE_NAME = 'proxy-executor';
export const DEFAULT_MAX_INLINE_BYTES = 64 * 1024;

/** ioredis options from a `redis://` or `rediss://` URL (what the worker CLI is given). */
export function connectionFromUrl(url: string): {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
  maxRetriesPerRequest: null;
} {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new TypeError(`Expected a redis:// or rediss:// URL, got "${url}"`);
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ workers block on Redis; ioredis must not give up on those commands.
    maxRetriesPerRequest: null,
  };
}
