// The bodies of the connector's HTTP requests: a chunked upload with an idle timer, and a
// download read into one buffer sized from Content-Length.
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/**
 * A larger body goes to the socket in pieces of this size (views, not copies), so that the
 * connector also sees progress itself, from an endpoint that does not report it. Smaller pieces
 * cost throughput: undici waits for each piece to drain before taking the next (measured
 * +16% on a 10 MB put with 256 KiB pieces, within noise with 4 MiB).
 */
export const UPLOAD_CHUNK = 4 * 1024 * 1024;

/** Why an upload was aborted: it stopped moving, or the answer did not come after it. */
export class UploadTimeout extends Error {
  override name = 'UploadTimeout';
  readonly code = 'UPLOAD_TIMEOUT';
}

/**
 * The idle timer of a chunked upload. Every piece the socket takes, and every `102 Processing`
 * from the endpoint, restarts it; once the endpoint stops reporting after the last piece, it is
 * the wait for the answer. When it fires, the request is aborted.
 */
export class UploadWatchdog extends EventEmitter {
  // undici takes an EventEmitter with `aborted` / `reason` as its abort signal: measured about
  // 0.1 ms cheaper per request than an AbortController.
  aborted = false;
  reason: UploadTimeout | undefined;
  private readonly timer: NodeJS.Timeout;
  private sent = 0;
  private finished = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly size: number,
  ) {
    super();
    this.timer = setTimeout(() => this.fire(), timeoutMs);
  }

  /** The socket took `bytes` more bytes (or, with `done`, the whole body). */
  progress(bytes: number, done: boolean): void {
    this.sent += bytes;
    this.finished = done;
    this.timer.refresh();
  }

  /** The endpoint said (with a `102 Processing`) that more of the body arrived. */
  heard(): void {
    this.timer.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private fire(): void {
    this.aborted = true;
    this.reason = new UploadTimeout(
      this.finished
        ? `no progress for ${this.timeoutMs} ms after the whole ${this.size}-byte body was handed to the socket: it stopped arriving at the endpoint, or the endpoint does not answer`
        : `upload stalled: no progress for ${this.timeoutMs} ms (${this.size}-byte body, ${this.sent} bytes of it handed to the socket)`,
    );
    this.emit('abort');
  }
}

/**
 * The pieces of a body as a stream of views of at most UPLOAD_CHUNK bytes (no copies). The
 * stream buffers at most one piece ahead, so a read means the socket took the previous one.
 */
export class ChunkedBody extends Readable {
  private part = 0;
  private offset = 0;
  private pending = 0;

  constructor(
    private readonly parts: readonly Uint8Array[],
    private readonly watchdog: UploadWatchdog,
  ) {
    super({ highWaterMark: UPLOAD_CHUNK });
  }

  override _read(): void {
    while (this.part < this.parts.length) {
      const piece = this.parts[this.part]!;
      if (this.offset >= piece.byteLength) {
        this.part++;
        this.offset = 0;
        continue;
      }
      const end = Math.min(piece.byteLength, this.offset + UPLOAD_CHUNK);
      const chunk = piece.subarray(this.offset, end);
      this.offset = end;
      this.watchdog.progress(this.pending, false);
      this.pending = chunk.byteLength;
      this.push(chunk);
      return;
    }
    this.watchdog.progress(this.pending, true);
    this.pending = 0;
    this.push(null);
  }
}

/**
 * Reads a response body into one buffer sized from Content-Length: each chunk is copied once,
 * and released as soon as it is copied (no list of chunks plus a concatenated copy).
 */
export async function readBody(res: Dispatcher.ResponseData): Promise<Uint8Array> {
  const declared = res.headers['content-length'];
  const length = typeof declared === 'string' ? Number(declared) : Number.NaN;
  if (!Number.isSafeInteger(length)) return Buffer.from(await res.body.arrayBuffer());
  // allocUnsafeSlow: a large result owns its memory, so it can be transferred between threads.
  const out = length >= 4096 ? Buffer.allocUnsafeSlow(length) : Buffer.allocUnsafe(length);
  let offset = 0;
  // 'data' listeners rather than `for await`: measured ~20% faster on 1 MB bodies.
  return new Promise((resolve, reject) => {
    const body = res.body;
    body.on('data', (chunk: Buffer) => {
      if (offset + chunk.length > length) {
        body.destroy();
        reject(new Error(`response longer than its Content-Length of ${length}`));
        return;
      }
      chunk.copy(out, offset);
      offset += chunk.length;
    });
    body.once('error', reject);
    body.once('end', () => {
      if (offset === length) resolve(out);
      else reject(new Error(`response cut off after ${offset} of ${length} bytes`));
    });
  });
}
