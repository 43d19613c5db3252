import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

const PLACEHOLDER = Buffer.alloc(0);

type Middleware = Parameters<PutObjectCommand['middlewareStack']['addRelativeTo']>[0];
interface Attempt {
  request: { body?: unknown; headers?: Record<string, string> };
}

/**
 * PutObject of the concatenation of `parts` without joining them in memory (the store hands
 * raw bytes over as `[header, caller's buffer]`; joining would copy the whole object).
 *
 * The SDK writes a body either as one buffer or as a stream, and never retries a stream (it
 * is consumed). So the command carries an empty placeholder body and a middleware swaps in a
 * fresh stream over `parts` for each attempt, just before signing, and puts the placeholder
 * back after the attempt so the retry logic still sees a replayable request. The payload
 * hash is computed over the parts, as the SDK would over one buffer.
 *
 * Only valid when the client computes no flexible checksums (`WHEN_REQUIRED`): those are taken
 * over the placeholder before the swap.
 */
export async function putObjectParts(
  client: S3Client,
  target: { Bucket: string; Key: string },
  parts: readonly Buffer[],
  totalBytes: number,
  abortSignal: AbortSignal,
): Promise<void> {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  const payloadSha256 = hash.digest('hex');
  const command = new PutObjectCommand({ ...target, Body: PLACEHOLDER, ContentLength: totalBytes });
  const swapBody = (next: (args: Attempt) => Promise<unknown>) => async (args: Attempt) => {
    const { request } = args;
    const placeholder = request.body;
    request.body = Readable.from(parts, { objectMode: false });
    if (request.headers) request.headers['x-amz-content-sha256'] = payloadSha256;
    try {
      return await next(args);
    } finally {
      request.body = placeholder;
    }
  };
  // A finalize-step middleware; the SDK's union type does not infer its parameters.
  command.middlewareStack.addRelativeTo(swapBody as unknown as Middleware, {
    relation: 'before',
    toMiddleware: 'httpSigningMiddleware',
    name: 'proxyPartsBody',
  });
  await client.send(command, { abortSignal });
}
