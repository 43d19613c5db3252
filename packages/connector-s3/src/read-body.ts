import { constants } from 'node:buffer';
import { Readable } from 'node:stream';

/** The body stopped (server gone, idle too long) before Content-Length bytes arrived. */
export class BodyReadError extends Error {
  override readonly name = 'BodyReadError';
}

/** The object is larger than one Buffer can hold in this Node (`buffer.constants.MAX_LENGTH`). */
export class BodyTooLargeError extends BodyReadError {
  constructor(readonly bytes: number) {
    super(
      `the object has ${bytes} bytes, more than the largest Buffer this Node.js can allocate (${constants.MAX_LENGTH} bytes)`,
    );
  }
}

interface ByteArraySource {
  transformToByteArray(): Promise<Uint8Array>;
}

/**
 * Reads a GetObject body into one Buffer. With a Content-Length the buffer is allocated
 * once at that size and each chunk is copied into place (one copy, no concatenation);
 * without one, chunks are concatenated once at the end. The buffer owns its memory
 * (never a slice of Node's shared pool), so it can be transferred between threads.
 * A body idle for `idleTimeoutMs` is destroyed and the read rejects.
 */
export function readBody(
  body: unknown,
  contentLength: number | undefined,
  idleTimeoutMs: number,
): Promise<Buffer> {
  if (body === undefined || body === null) {
    return Promise.resolve(Buffer.allocUnsafeSlow(0));
  }
  if (contentLength !== undefined && contentLength > constants.MAX_LENGTH) {
    // Checked before any allocation; the body is dropped so its connection is not left open.
    (body as { destroy?: () => void }).destroy?.();
    return Promise.reject(new BodyTooLargeError(contentLength));
  }
  if (!(body instanceof Readable)) {
    return (body as ByteArraySource).transformToByteArray().then((bytes) => {
      if (contentLength !== undefined && bytes.byteLength !== contentLength) {
        throw new BodyReadError(
          `body has ${bytes.byteLength} bytes, Content-Length said ${contentLength}`,
        );
      }
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    });
  }
  const stream = body;
  return new Promise<Buffer>((resolve, reject) => {
    const out = contentLength === undefined ? undefined : Buffer.allocUnsafeSlow(contentLength);
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const timer = setTimeout(() => {
      stream.destroy(
        new BodyReadError(
          `no body bytes for ${idleTimeoutMs} ms (received ${received} of ${contentLength ?? '?'})`,
        ),
      );
    }, idleTimeoutMs);
    const finish = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off('data', onData);
      if (error) {
        if (!stream.destroyed) stream.destroy();
        reject(error);
      } else if (out) {
        resolve(out);
      } else {
        const whole = Buffer.allocUnsafeSlow(received);
        let offset = 0;
        for (const c of chunks) offset += c.copy(whole, offset);
        resolve(whole);
      }
    };
    const onData = (chunk: Buffer) => {
      timer.refresh();
      if (out) {
        if (received + chunk.length > out.length) {
          finish(new BodyReadError(`body is longer than its Content-Length ${contentLength}`));
          return;
        }
        chunk.copy(out, received);
      } else {
        if (received + chunk.length > constants.MAX_LENGTH) {
          finish(new BodyTooLargeError(received + chunk.length));
          return;
        }
        chunks.push(chunk);
      }
      received += chunk.length;
    };
    stream.on('data', onData);
    stream.once('end', () => {
      finish(
        out && received !== out.length
          ? new BodyReadError(`body ended after ${received} of ${contentLength} bytes`)
          : undefined,
      );
    });
    stream.once('error', (error) =>
      finish(
        error instanceof BodyReadError
          ? error
          : new BodyReadError(
              `connection failed after ${received} of ${contentLength ?? '?'} body bytes (${(error as NodeJS.ErrnoException).code ?? error.name}: ${error.message})`,
              { cause: error },
            ),
      ),
    );
    stream.once('close', () => {
      finish(
        new BodyReadError(
          `connection closed after ${received} of ${contentLength ?? '?'} body bytes`,
        ),
      );
    });
  });
}
