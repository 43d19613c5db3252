import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  type ConnectorConfig,
  ConnectorError,
  checkWaitTimeout,
  type DeferrableConnector,
  FutureTimeoutError,
  formatKey,
  mapLimit,
  type WaitOptions,
} from '@proxy/core';
import { Agent, type Dispatcher, request } from 'undici';
import { findHome, type HomeEndpoint } from './discovery.js';
import { assertEndpointKey, type EndpointKey } from './endpoint-key.js';
import { ChunkedBody, readBody, UPLOAD_CHUNK, UploadTimeout, UploadWatchdog } from './http-body.js';

export interface EndpointConnectorOptions {
  /**
   * Endpoints to try, in order: addresses (`http://host:port`), or names / uuids of endpoints
   * configured in the proxy home folder. The first that answers becomes this connector's home.
   */
  endpoints: string[];
  /** Bearer token for endpoints that require one (default: the token in the endpoint's config, if found by name/uuid). */
  token?: string;
  /**
   * Idle timeout of each request, in ms (default 10 s): connecting, an upload that moves no
   * bytes, waiting for the answer after the body was sent, and idle time between response
   * chunks. An upload that keeps moving may take longer than this in total.
   */
  timeoutMs?: number;
  /** The endpoint config folder (default `$PROXY_HOME`, `$XDG_DATA_HOME/proxy`, `~/.local/share/proxy`). */
  home?: string;
  /** An undici dispatcher to send requests through (not closed by `close()`). */
  dispatcher?: Dispatcher;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * Requests a batch keeps in flight. undici opens a socket per concurrent request to an origin,
 * so an unbounded batch of thousands would open thousands of sockets (and run out of them).
 */
const BATCH_CONCURRENCY = 32;
/** A single long-poll request never waits longer than this; longer waits are several polls. */
const POLL_SLICE_MS = 30_000;
/**
 * Uploads larger than this run on an idle timer (UploadWatchdog) instead of undici's header
 * timeout, and ask the endpoint to report progress.
 */
const WATCHED_UPLOAD = 256 * 1024;

/** Bodies in several pieces up to this size are joined and sent as one buffer, like a `put`. */
const JOIN_BELOW = UPLOAD_CHUNK;
/** Request header asking the endpoint to report upload progress with `102 Processing`. */
export const PROGRESS_HEADER = 'x-proxy-progress';
/** Attempts per key when a failed putBatch evicts what it already stored. */
const ROLLBACK_ATTEMPTS = 3;

type Method = 'GET' | 'POST';

/**
 * Stores objects on a ProxyStore-style endpoint over HTTP. Keys are `{ objectId, endpointId }`;
 * the endpoint id is the owner's uuid, sent with every request so that an endpoint can tell
 * its own objects from a peer's.
 */
export class EndpointConnector implements DeferrableConnector<EndpointKey> {
  static readonly packageName = '@proxy/connector-endpoint';
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  private readonly token: string | undefined;
  private readonly home: string | undefined;
  private readonly dispatcher: Dispatcher;
  /**
   * Batches go through an agent with at most BATCH_CONCURRENCY sockets: undici marks a socket
   * free a moment after its answer arrived, so with no cap a batch that starts its next request
   * at once opens more sockets than it has requests in flight. Single requests (and long polls)
   * keep the uncapped agent. With an injected dispatcher, both are that dispatcher.
   */
  private readonly batchDispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private found: Promise<HomeEndpoint> | undefined;
  private closed = false;

  constructor(options: EndpointConnectorOptions) {
    if (!options || !Array.isArray(options.endpoints) || options.endpoints.length === 0) {
      throw new TypeError(
        'EndpointConnector: "endpoints" must be a non-empty array of addresses, names or uuids',
      );
    }
    for (const e of options.endpoints) {
      if (typeof e !== 'string' || e.length === 0)
        throw new TypeError(`EndpointConnector: bad endpoint entry ${JSON.stringify(e)}`);
    }
    if (
      options.token !== undefined &&
      (typeof options.token !== 'string' || options.token.length === 0)
    ) {
      throw new TypeError('EndpointConnector: "token" must be a non-empty string');
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new TypeError(`EndpointConnector: "timeoutMs" must be > 0, got ${timeoutMs}`);
    this.endpoints = [...options.endpoints];
    this.timeoutMs = timeoutMs;
    this.token = options.token;
    this.home = options.home;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ?? new Agent({ connect: { timeout: timeoutMs }, keepAliveTimeout: 4000 });
    this.batchDispatcher =
      options.dispatcher ??
      new Agent({
        connect: { timeout: timeoutMs },
        keepAliveTimeout: 4000,
        connections: BATCH_CONCURRENCY,
      });
  }

  static fromConfig(options: Record<string, unknown>): EndpointConnector {
    return new EndpointConnector(options as unknown as EndpointConnectorOptions);
  }

  validateKey(key: unknown): asserts key is EndpointKey {
    assertEndpointKey(key);
  }

  /** The endpoint this connector uses (found on first use). */
  endpoint(): Promise<HomeEndpoint> {
    if (this.closed) return Promise.reject(new ConnectorError('EndpointConnector is closed'));
    this.found ??= findHome(this.endpoints, {
      timeoutMs: this.timeoutMs,
      dispatcher: this.dispatcher,
      ...(this.token !== undefined && { token: this.token }),
      ...(this.home !== undefined && { home: this.home }),
    }).catch((error: unknown) => {
      // Not cached: the endpoint may come up later.
      this.found = undefined;
      throw error;
    });
    return this.found;
  }

  async newKey(): Promise<EndpointKey> {
    const home = await this.endpoint();
    return { objectId: randomUUID(), endpointId: home.uuid };
  }

  async put(data: Uint8Array): Promise<EndpointKey> {
    const key = await this.newKey();
    await this.set(key, data);
    return key;
  }

  private async putVia(data: Uint8Array, via: Dispatcher): Promise<EndpointKey> {
    const key = await this.newKey();
    await this.setVia(key, data, via);
    return key;
  }

  /** `put` of the concatenation of `parts`, streamed piece by piece (no joining copy). */
  async putParts(parts: readonly Uint8Array[]): Promise<EndpointKey> {
    const key = await this.newKey();
    await this.set(key, parts);
    return key;
  }

  /** All or nothing: when one put fails, the objects already stored by this batch are evicted. */
  async putBatch(data: Uint8Array[]): Promise<EndpointKey[]> {
    const stored: EndpointKey[] = [];
    try {
      return await mapLimit(data, BATCH_CONCURRENCY, async (d) => {
        const key = await this.putVia(d, this.batchDispatcher);
        stored.push(key);
        return key;
      });
    } catch (error) {
      // mapLimit has let every put already running settle, so `stored` is complete here.
      const left = await this.rollback(stored);
      if (left.length === 0) throw error;
      const shown = left.slice(0, 20).map(formatKey).join(', ');
      throw new BatchRollbackError(
        `EndpointConnector: putBatch failed (${(error as Error)?.message ?? error}), and ${left.length} of the ${stored.length} objects it had stored could not be evicted: ${shown}${left.length > 20 ? ', …' : ''} (all in the error's \`leftBehind\`)`,
        left,
        { cause: error },
      );
    }
  }

  /**
   * Evicts the keys of a failed batch, with the batch's concurrency limit, trying each key up
   * to ROLLBACK_ATTEMPTS times. Returns the keys that could not be evicted.
   */
  private async rollback(keys: readonly EndpointKey[]): Promise<EndpointKey[]> {
    const left: EndpointKey[] = [];
    await mapLimit(keys, BATCH_CONCURRENCY, async (key) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.evictVia(key, this.batchDispatcher);
          return;
        } catch {
          if (attempt >= ROLLBACK_ATTEMPTS || this.closed) {
            left.push(key);
            return;
          }
          await new Promise((r) => setTimeout(r, 50 * attempt));
        }
      }
    });
    return left;
  }

  set(key: EndpointKey, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    return this.setVia(key, data, this.dispatcher);
  }

  private async setVia(
    key: EndpointKey,
    data: Uint8Array | readonly Uint8Array[],
    via: Dispatcher,
  ): Promise<void> {
    this.validateKey(key);
    const home = await this.endpoint();
    const size =
      data instanceof Uint8Array ? data.byteLength : data.reduce((n, p) => n + p.byteLength, 0);
    if (size > home.maxObjectSize) {
      throw new ConnectorError(
        `EndpointConnector: object of ${size} bytes for key=${formatKey(key)} exceeds the max object size of ${home.address} (${home.maxObjectSize} bytes); raise it with \`proxy-endpoint configure --max-object-size\``,
      );
    }
    // The body (or each piece of it) goes to the socket as it is: no copy on this side.
    const res = await this.call(home, 'POST', '/set', key, {
      body: data,
      size,
      empty: size === 0,
      via,
    });
    await this.expectOk(home, res, 'set', key);
  }

  get(key: EndpointKey): Promise<Uint8Array | null> {
    return this.getVia(key, this.dispatcher);
  }

  private async getVia(key: EndpointKey, via: Dispatcher): Promise<Uint8Array | null> {
    this.validateKey(key);
    const home = await this.endpoint();
    const res = await this.call(home, 'GET', '/get', key, { via });
    if (res.statusCode === 404) {
      await res.body.dump();
      return null;
    }
    await this.expectOk(home, res, 'get', key);
    try {
      return await readBody(res);
    } catch (error) {
      throw this.failed(home, 'get', key, error);
    }
  }

  async getBatch(keys: EndpointKey[]): Promise<(Uint8Array | null)[]> {
    for (const key of keys) this.validateKey(key);
    return mapLimit(keys, BATCH_CONCURRENCY, (k) => this.getVia(k, this.batchDispatcher));
  }

  async exists(key: EndpointKey): Promise<boolean> {
    this.validateKey(key);
    const home = await this.endpoint();
    const res = await this.call(home, 'GET', '/exists', key);
    await this.expectOk(home, res, 'exists', key);
    let body: { exists?: unknown };
    try {
      body = (await res.body.json()) as { exists?: unknown };
    } catch (error) {
      throw this.failed(home, 'exists', key, error);
    }
    if (typeof body?.exists !== 'boolean') {
      throw new ConnectorError(
        `EndpointConnector: exists key=${formatKey(key)} on ${home.address}: unexpected answer ${JSON.stringify(body)}; is this a proxy endpoint?`,
      );
    }
    return body.exists;
  }

  evict(key: EndpointKey): Promise<void> {
    return this.evictVia(key, this.dispatcher);
  }

  private async evictVia(key: EndpointKey, via: Dispatcher): Promise<void> {
    this.validateKey(key);
    const home = await this.endpoint();
    const res = await this.call(home, 'POST', '/evict', key, { via });
    await this.expectOk(home, res, 'evict', key);
  }

  /** Long-polls `GET /wait` until the key exists, the timeout passes or the signal aborts. */
  async waitFor(key: EndpointKey, options: WaitOptions = {}): Promise<void> {
    this.validateKey(key);
    const { signal, timeoutMs } = options;
    checkWaitTimeout('EndpointConnector', timeoutMs);
    signal?.throwIfAborted();
    const home = await this.endpoint();
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
    for (;;) {
      const slice = Math.max(0, Math.min(deadline - Date.now(), POLL_SLICE_MS));
      const res = await this.call(home, 'GET', '/wait', key, {
        waitMs: slice,
        ...(signal && { signal }),
      });
      if (res.statusCode === 204) {
        await res.body.dump();
        if (Date.now() >= deadline) {
          throw new FutureTimeoutError(
            `EndpointConnector: key=${formatKey(key)} was not set on ${home.address} within ${timeoutMs} ms`,
          );
        }
        continue;
      }
      await this.expectOk(home, res, 'wait', key);
      await res.body.dump();
      return;
    }
  }

  config(): ConnectorConfig {
    return {
      module: EndpointConnector.packageName,
      type: 'EndpointConnector',
      options: {
        endpoints: [...this.endpoints],
        timeoutMs: this.timeoutMs,
        ...(this.token !== undefined && { token: this.token }),
        ...(this.home !== undefined && { home: this.home }),
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsDispatcher)
      await Promise.all([this.dispatcher.close(), this.batchDispatcher.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async call(
    home: HomeEndpoint,
    method: Method,
    route: string,
    key: EndpointKey,
    extra: {
      body?: Uint8Array | readonly Uint8Array[];
      size?: number;
      empty?: boolean;
      waitMs?: number;
      signal?: AbortSignal;
      via?: Dispatcher;
    } = {},
  ): Promise<Dispatcher.ResponseData> {
    const query = new URLSearchParams({ key: key.objectId, endpoint: key.endpointId });
    if (extra.empty) query.set('allow_empty', 'true');
    if (extra.waitMs !== undefined) query.set('timeout', String(Math.round(extra.waitMs)));
    const headers: Record<string, string> = {};
    if (home.token) headers.authorization = `Bearer ${home.token}`;
    if (extra.body) headers['content-type'] = 'application/octet-stream';
    let body: Uint8Array | Readable | null = null;
    let upload: UploadWatchdog | undefined;
    if (extra.body) {
      const parts = extra.body instanceof Uint8Array ? [extra.body] : extra.body;
      const size = extra.size ?? 0;
      headers['content-length'] = String(size);
      if (size > WATCHED_UPLOAD) {
        upload = new UploadWatchdog(this.timeoutMs, size);
        // Asks the endpoint for `102 Processing` while bytes arrive: the socket buffers of both
        // hosts can hold seconds of a slow upload, which the pieces taken here do not show.
        headers[PROGRESS_HEADER] = '1';
      }
      if (parts.length === 1 && size <= UPLOAD_CHUNK) body = parts[0]!;
      else if (parts.length === 0) body = new Uint8Array(0);
      // Up to one upload piece, joining the pieces costs less than a stream's machinery
      // (measured: a 1 KB Store.put was ~0.3 ms slower than a plain put, a 1 MB one ~0.8 ms).
      else if (size <= JOIN_BELOW) body = Buffer.concat(parts, size);
      // Larger than one piece, so also larger than WATCHED_UPLOAD: the watchdog is running.
      else body = new ChunkedBody(parts, upload!);
    }
    // A long poll legitimately sends no headers for up to waitMs. A chunked upload has its own
    // idle timer (UploadWatchdog) in place of the header timeout, which undici would count from
    // the start of the upload.
    const headersTimeout = upload ? 0 : this.timeoutMs + (extra.waitMs ?? 0);
    const signal = upload ?? extra.signal;
    try {
      return await request(`${home.address}${route}?${query}`, {
        method,
        dispatcher: extra.via ?? this.dispatcher,
        headers,
        body,
        headersTimeout,
        bodyTimeout: this.timeoutMs,
        ...(signal && { signal }),
        ...(upload && { onInfo: () => upload.heard() }),
      });
    } catch (error) {
      if (extra.signal?.aborted) throw extra.signal.reason;
      throw this.failed(home, route.slice(1), key, error);
    } finally {
      upload?.stop();
    }
  }

  private async expectOk(
    home: HomeEndpoint,
    res: Dispatcher.ResponseData,
    op: string,
    key: EndpointKey,
  ): Promise<void> {
    if (res.statusCode === 200) return;
    const text = (await res.body.text().catch(() => '')).slice(0, 500);
    const hint =
      res.statusCode === 401
        ? ' (pass the endpoint token as the `token` option)'
        : res.statusCode === 413
          ? ' (raise the endpoint max object size)'
          : '';
    throw new ConnectorError(
      `EndpointConnector: ${op} key=${formatKey(key)} on ${home.address} failed with HTTP ${res.statusCode}: ${text}${hint}`,
    );
  }

  private failed(home: HomeEndpoint, op: string, key: EndpointKey, error: unknown): ConnectorError {
    const e = error as Error & { code?: string };
    const timedOut = error instanceof UploadTimeout || TIMEOUT_CODES.has(e.code ?? '');
    const hint = timedOut
      ? ` (timeoutMs is ${this.timeoutMs}: the endpoint or the network is stalled or too slow)`
      : '. Is the endpoint running?';
    return new ConnectorError(
      `EndpointConnector: ${op} key=${formatKey(key)} on ${home.address} failed: ${e.code ? `${e.code} ` : ''}${e.message}${hint}`,
      { cause: error },
    );
  }
}

/** undici's codes for a request that timed out (as opposed to a refused or reset connection). */
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** A `putBatch` whose rollback could not evict every object it had stored. */
export class BatchRollbackError extends ConnectorError {
  constructor(
    message: string,
    /** The keys of the objects that are still stored. */
    readonly leftBehind: EndpointKey[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
