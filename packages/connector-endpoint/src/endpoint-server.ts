import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isUuid } from '@proxy/core';
import { isObjectId } from './endpoint-key.js';
import { EmptyBodyError, type EndpointStorage, ObjectTooLargeError } from './storage.js';

export interface EndpointServerOptions {
  /** This endpoint's uuid: the `endpointId` of every object it owns. */
  uuid: string;
  name?: string;
  storage: EndpointStorage;
  /** When set, every route but `GET /` needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Longest a `GET /wait` may hold a request, in ms (default 60 s; clients loop for longer waits). */
  maxWaitMs?: number;
  /**
   * A download (`GET /get`) whose client takes no bytes for this long is dropped: the
   * connection is closed and the object's file handle released. In ms, default 60 s.
   */
  sendTimeoutMs?: number;
  /** Called with one line per notable event (start, server errors). */
  log?: (line: string) => void;
}

const DEFAULT_MAX_WAIT_MS = 60_000;
const DEFAULT_SEND_TIMEOUT_MS = 60_000;
/** How much of a refused body is read and discarded before the connection is dropped. */
const LINGER_BYTES = 4 * 1024 * 1024;
const LINGER_MS = 2000;
/**
 * A client that sends `x-proxy-progress: 1` with an upload gets `102 Processing` at most this
 * often while bytes of its body arrive (EndpointConnector uses it as its idle timer).
 * Opt-in: some clients (Python's http.client) take any 1xx other than 100 for the answer.
 */
const PROGRESS_MS = 100;

/**
 * Calls `fn` with each chunk `stream` emits, without starting the flow itself: a 'data'
 * listener added before the consumer would switch the stream to flowing early.
 */
function onChunks(stream: Readable, fn: (chunk: Buffer) => void): void {
  if (stream.readableFlowing) stream.on('data', fn);
  else stream.once('resume', () => stream.on('data', fn));
}

/** Sends `102 Processing` every PROGRESS_MS in which bytes of the request arrived. */
function reportProgress(req: http.IncomingMessage, res: http.ServerResponse): () => void {
  const socket = req.socket;
  let seen = socket.bytesRead;
  const timer = setInterval(() => {
    if (res.headersSent || res.destroyed || socket.destroyed) return;
    if (socket.bytesRead === seen) return;
    seen = socket.bytesRead;
    res.writeProcessing();
  }, PROGRESS_MS);
  return () => clearInterval(timer);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The request target as a URL; one that cannot be parsed (`//[`) is a 400, not a 500. */
function parseUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://endpoint');
  } catch {
    throw new HttpError(400, `bad request target ${JSON.stringify(target)}`);
  }
}

/**
 * The endpoint's HTTP API: ProxyStore's routes (`/`, `/endpoint`, `/set`, `/get`, `/exists`,
 * `/evict`) plus `/wait` (long poll for futures) and `/stats`. Bodies stream in and out.
 */
export class EndpointServer {
  readonly uuid: string;
  readonly name: string | undefined;
  readonly storage: EndpointStorage;
  private readonly token: Buffer | undefined;
  private readonly maxWaitMs: number;
  private readonly sendTimeoutMs: number;
  private readonly log: (line: string) => void;
  private readonly server: http.Server;
  /** Pending long polls per object id; called with true when the object was set, false to give up. */
  private readonly waiters = new Map<string, Set<(found: boolean) => void>>();
  /**
   * The most bytes of one upload ever taken from its socket but not yet stored, and of one
   * download ever produced by the storage but not yet handed to the kernel: what the server
   * holds in between. Stream buffers when bodies stream; a whole object when one is buffered.
   */
  private maxUploadHeld = 0;
  private maxDownloadHeld = 0;

  constructor(options: EndpointServerOptions) {
    if (!isUuid(options.uuid))
      throw new TypeError(
        `EndpointServer: uuid must be a uuid, got ${JSON.stringify(options.uuid)}`,
      );
    this.uuid = options.uuid;
    this.name = options.name;
    this.storage = options.storage;
    this.token = options.token === undefined ? undefined : Buffer.from(options.token);
    this.maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    if (!Number.isFinite(this.sendTimeoutMs) || this.sendTimeoutMs <= 0)
      throw new TypeError(
        `EndpointServer: sendTimeoutMs must be > 0, got ${options.sendTimeoutMs}`,
      );
    this.log = options.log ?? (() => {});
    this.server = http.createServer(
      { keepAliveTimeout: 65_000 },
      (req, res) => void this.handle(req, res, false),
    );
    // Answering `Expect: 100-continue` ourselves lets a client learn about 401/400/413 before sending a byte.
    this.server.on('checkContinue', (req, res) => void this.handle(req, res, true));
  }

  /** Starts listening; resolves with the address clients use (`http://host:port`). */
  async listen(port: number, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.address;
  }

  get address(): string {
    const info = this.server.address() as AddressInfo | null;
    if (!info) throw new Error('EndpointServer is not listening');
    const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
    return `http://${host}:${info.port}`;
  }

  async close(): Promise<void> {
    // Pending polls end as 'not yet' (204), never as a false 'exists'.
    for (const wake of [...this.waiters.values()].flatMap((s) => [...s])) wake(false);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    await this.storage.close();
  }

  private async handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    expectsContinue: boolean,
  ): Promise<void> {
    try {
      const url = parseUrl(req.url);
      const route = `${req.method} ${url.pathname}`;
      if (route === 'GET /' || route === 'HEAD /') return this.send(res, 200, '');
      this.authorize(req);
      switch (route) {
        case 'GET /endpoint':
          return this.json(res, {
            uuid: this.uuid,
            name: this.name ?? null,
            maxObjectSize: this.storage.maxObjectSize,
            peering: false,
          });
        case 'GET /stats':
          return this.json(res, await this.stats());
        case 'POST /set':
          return await this.set(req, res, url, expectsContinue);
        case 'GET /get':
          return await this.get(res, this.objectId(url));
        case 'GET /exists':
          return this.json(res, { exists: await this.storage.has(this.objectId(url)) });
        case 'POST /evict':
          await this.storage.delete(this.objectId(url));
          return this.send(res, 200, '');
        case 'GET /wait':
          return await this.wait(req, res, url);
        default:
          throw new HttpError(
            ['/', '/endpoint', '/stats', '/set', '/get', '/exists', '/evict', '/wait'].includes(
              url.pathname,
            )
              ? 405
              : 404,
            `no route ${route}`,
          );
      }
    } catch (error) {
      if (error instanceof HttpError) return this.refuse(req, res, error.status, error.message);
      this.log(`error on ${req.method} ${req.url}: ${(error as Error).stack ?? error}`);
      return this.refuse(req, res, 500, `internal error: ${(error as Error).message}`);
    }
  }

  private authorize(req: http.IncomingMessage): void {
    if (!this.token) return;
    const header = req.headers.authorization ?? '';
    // The scheme is case-insensitive (RFC 9110 §11.1).
    const scheme = /^bearer +/i.exec(header);
    const given = Buffer.from(scheme ? header.slice(scheme[0].length) : '');
    if (given.length !== this.token.length || !timingSafeEqual(given, this.token)) {
      throw new HttpError(
        401,
        header
          ? 'wrong token'
          : 'this endpoint needs a token: send "Authorization: Bearer <token>"',
      );
    }
  }

  /** The object id of a request, after checking that this endpoint owns the object. */
  private objectId(url: URL): string {
    const key = url.searchParams.get('key');
    if (key === null || key === '') throw new HttpError(400, 'missing query parameter "key"');
    if (!isObjectId(key))
      throw new HttpError(
        400,
        `bad key ${JSON.stringify(key)}: use 1-128 characters [A-Za-z0-9_.-]`,
      );
    const owner = url.searchParams.get('endpoint');
    if (owner !== null && owner !== '') {
      if (!isUuid(owner)) throw new HttpError(400, `bad endpoint uuid ${JSON.stringify(owner)}`);
      // The seam for peering: a request for another endpoint's object would be forwarded here.
      if (owner.toLowerCase() !== this.uuid.toLowerCase()) {
        throw new HttpError(
          501,
          `object ${key} is owned by endpoint ${owner}; this endpoint (${this.uuid}) has no peering configured, so it cannot forward the request`,
        );
      }
    }
    return key;
  }

  private async set(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    expectsContinue: boolean,
  ): Promise<void> {
    const id = this.objectId(url);
    const allowEmpty = url.searchParams.get('allow_empty') === 'true';
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      const length = Number(declared);
      if (length > this.storage.maxObjectSize) throw this.tooLarge(`${length}-byte body`);
      if (length === 0 && !allowEmpty) throw new HttpError(400, new EmptyBodyError().message);
    }
    if (expectsContinue) res.writeContinue();
    const stopReporting =
      req.headers['x-proxy-progress'] === '1' ? reportProgress(req, res) : () => {};
    let received = 0;
    let stored = 0;
    const written = this.storage.write(id, req, {
      allowEmpty,
      onStored: (bytes) => {
        stored = bytes;
      },
    });
    onChunks(req, (chunk) => {
      received += chunk.length;
      this.maxUploadHeld = Math.max(this.maxUploadHeld, received - stored);
    });
    try {
      await written;
    } catch (error) {
      if (error instanceof ObjectTooLargeError) throw this.tooLarge('body');
      if (error instanceof EmptyBodyError) throw new HttpError(400, error.message);
      if (req.destroyed || req.readableAborted) return; // the client went away: nothing was stored
      throw error;
    } finally {
      stopReporting();
    }
    this.send(res, 200, '');
    this.wake(id);
  }

  private tooLarge(what: string): HttpError {
    return new HttpError(
      413,
      `${what} exceeds this endpoint's max object size of ${this.storage.maxObjectSize} bytes`,
    );
  }

  private async get(res: http.ServerResponse, id: string): Promise<void> {
    const object = await this.storage.read(id);
    if (!object) throw new HttpError(404, `no object with key ${id}`);
    const socket = res.socket;
    // Bytes the socket has handed to the kernel (bytesWritten counts what it still buffers).
    const flushed = () => (socket ? socket.bytesWritten - socket.writableLength : 0);
    const start = flushed();
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': object.size,
    });
    const source = object.stream();
    const sent = pipeline(source, res);
    // A client that stops reading would hold the socket and the file open forever: each chunk
    // the response takes (and each drain) restarts this timer; when it fires, the response is
    // destroyed, and the pipeline destroys the source, which closes the file.
    const idle = setTimeout(() => {
      this.log(`GET /get?key=${id}: the client took nothing for ${this.sendTimeoutMs} ms; dropped`);
      res.destroy();
    }, this.sendTimeoutMs);
    res.on('drain', () => idle.refresh());
    let produced = 0;
    onChunks(source, (chunk) => {
      idle.refresh();
      produced += chunk.length;
      this.maxDownloadHeld = Math.max(this.maxDownloadHeld, produced - (flushed() - start));
    });
    await sent
      .catch(() => {
        // The client hung up mid-download (or was dropped); pipeline destroyed both streams.
      })
      .finally(() => clearTimeout(idle));
  }

  private async wait(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const id = this.objectId(url);
    const raw = url.searchParams.get('timeout');
    const timeout = raw === null ? this.maxWaitMs : raw.trim() === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(timeout) || timeout < 0)
      throw new HttpError(400, `bad timeout ${JSON.stringify(raw)}: milliseconds >= 0`);
    // An Error when the storage could not be checked: answered as a 500 below, not as "not yet".
    const found = await new Promise<boolean | Error>((resolve) => {
      let set = this.waiters.get(id);
      if (!set) {
        set = new Set();
        this.waiters.set(id, set);
      }
      const waiters = set;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (value: boolean | Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && this.waiters.get(id) === waiters) this.waiters.delete(id);
        res.off('close', gone);
        resolve(value);
      };
      const wake = (found: boolean) => finish(found);
      const gone = () => finish(false);
      // Registered before checking, so a set landing between the check and the wait still wakes us.
      waiters.add(wake);
      res.on('close', gone);
      // The clock starts once the check has said "not yet": a key that exists is found even
      // with timeout=0, however slow the storage is to answer.
      this.storage.has(id).then(
        (exists) => {
          if (exists) finish(true);
          else if (!done)
            timer = setTimeout(() => finish(false), Math.min(timeout, this.maxWaitMs));
        },
        (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
      );
    });
    if (res.destroyed || req.destroyed) return;
    if (found instanceof Error) throw found;
    if (found) this.json(res, { exists: true });
    else this.send(res, 204, '');
  }

  private wake(id: string): void {
    const set = this.waiters.get(id);
    if (!set) return;
    this.waiters.delete(id);
    for (const wake of set) wake(true);
  }

  private async stats() {
    const usage = process.memoryUsage();
    return {
      uuid: this.uuid,
      ...(await this.storage.stats()),
      rss: usage.rss,
      heapUsed: usage.heapUsed,
      arrayBuffers: usage.arrayBuffers,
      // Peak resident set size of the server process, in bytes (resourceUsage reports KiB).
      maxRss: process.resourceUsage().maxRSS * 1024,
      waiters: [...this.waiters.values()].reduce((n, s) => n + s.size, 0),
      maxUploadHeldBytes: this.maxUploadHeld,
      maxDownloadHeldBytes: this.maxDownloadHeld,
    };
  }

  private json(res: http.ServerResponse, body: unknown): void {
    this.send(res, 200, JSON.stringify(body), 'application/json');
  }

  private send(
    res: http.ServerResponse,
    status: number,
    body: string,
    type = 'text/plain; charset=utf-8',
  ): void {
    if (res.headersSent) return void res.destroy();
    const headers: http.OutgoingHttpHeaders = {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
    };
    if (status === 401) headers['www-authenticate'] = 'Bearer';
    res.writeHead(status, headers);
    res.end(body);
  }

  /**
   * An error reply. When the request body has not been read, the rest of it is read and thrown
   * away for at most LINGER_BYTES / LINGER_MS (a lingering close, as nginx does), so that a
   * client still sending can finish and read the status; past that the connection is dropped.
   * A refused body is never read to its end when it is large.
   */
  private refuse(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    message: string,
  ): void {
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody || req.complete || req.readableEnded) {
      this.send(res, status, message);
      return;
    }
    this.send(res, status, message);
    res.once('finish', () => {
      let discarded = 0;
      const drop = () => req.socket.destroy();
      const timer = setTimeout(drop, LINGER_MS);
      timer.unref();
      req.on('data', (chunk: Buffer) => {
        discarded += chunk.length;
        if (discarded > LINGER_BYTES) drop();
      });
      req.once('end', () => clearTimeout(timer));
      req.socket.once('close', () => clearTimeout(timer));
      req.resume();
    });
  }
}
