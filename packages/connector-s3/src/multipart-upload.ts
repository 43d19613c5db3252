import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mapLimit } from '@proxy/core';
import { MAX_PARTS } from './s3-connector-options.js';

/** One request under the connector's deadline (and close signal), failing as a ConnectorError. */
export type SendUnderDeadline = <T>(
  request: { operation: string; bodyBytes?: number; survivesClose?: boolean },
  send: (abortSignal: AbortSignal) => Promise<T>,
) => Promise<T>;

export interface MultipartUploadOptions {
  client: S3Client;
  bucket: string;
  objectKey: string;
  body: Buffer;
  partSizeBytes: number;
  concurrency: number;
  /** Whether the client adds flexible checksums (then every part carries a CRC32). */
  checksums: boolean;
  /** Sends each request with the connector's per-request deadline. */
  send: SendUnderDeadline;
  /** Aborted when the connector closes: the abort then goes out without being waited for. */
  closing: AbortSignal;
}

/** Why an upload failed, and what became of its parts (appended to the error message). */
export interface MultipartUploadFailure {
  error: unknown;
  note: string;
}

/**
 * Uploads `body` as a multipart upload: CreateMultipartUpload, then UploadPart for zero-copy
 * slices of `body` (`concurrency` in flight), then CompleteMultipartUpload. Every request goes
 * through `send`, so each one has the connector's deadline and is cut off when the connector
 * closes. After a failure no new part starts; once the parts in flight settle, the upload is
 * aborted so S3 drops every part.
 */
export async function uploadMultipart(
  options: MultipartUploadOptions,
): Promise<MultipartUploadFailure | undefined> {
  const { body, client, send } = options;
  const Bucket = options.bucket;
  const Key = options.objectKey;
  const ChecksumAlgorithm = options.checksums ? 'CRC32' : undefined;
  let uploadId: string | undefined;
  try {
    const created = await send({ operation: 'CreateMultipartUpload' }, (abortSignal) =>
      client.send(new CreateMultipartUploadCommand({ Bucket, Key, ChecksumAlgorithm }), {
        abortSignal,
      }),
    );
    uploadId = created.UploadId;
    if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
    const UploadId = uploadId;
    // Never more than S3's 10 000 parts.
    const partSize = Math.max(options.partSizeBytes, Math.ceil(body.byteLength / MAX_PARTS));
    const count = Math.ceil(body.byteLength / partSize);
    const numbers = Array.from({ length: count }, (_, i) => i + 1);
    const parts = await mapLimit(
      numbers,
      options.concurrency,
      async (PartNumber): Promise<CompletedPart> => {
        const slice = body.subarray((PartNumber - 1) * partSize, PartNumber * partSize);
        const result = await send(
          {
            operation: `UploadPart ${PartNumber}/${count} (upload ${UploadId})`,
            bodyBytes: slice.byteLength,
          },
          (abortSignal) =>
            client.send(
              new UploadPartCommand({
                Bucket,
                Key,
                UploadId,
                PartNumber,
                Body: slice,
                ContentLength: slice.byteLength,
                ChecksumAlgorithm,
              }),
              { abortSignal },
            ),
        );
        if (!result.ETag) throw new Error(`UploadPart ${PartNumber} returned no ETag`);
        return {
          PartNumber,
          ETag: result.ETag,
          ...(result.ChecksumCRC32 ? { ChecksumCRC32: result.ChecksumCRC32 } : {}),
        };
      },
    );
    await send({ operation: `CompleteMultipartUpload (upload ${UploadId})` }, (abortSignal) =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
        { abortSignal },
      ),
    );
    return undefined;
  } catch (error) {
    if (uploadId === undefined) return { error, note: '' };
    const UploadId = uploadId;
    // Sent even when the connector is closing: otherwise the parts would stay behind.
    const aborting = send(
      { operation: `AbortMultipartUpload (upload ${UploadId})`, survivesClose: true },
      (abortSignal) =>
        client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }), {
          abortSignal,
        }),
    );
    if (options.closing.aborted) {
      // close() should not wait for a server that may not answer: the abort runs on its own.
      aborting.catch(() => undefined);
      return {
        error,
        note: ` AbortMultipartUpload ${UploadId} was sent as the connector closed, without waiting for the answer; if it fails, the parts stay on the server until an "incomplete multipart uploads" lifecycle rule removes them.`,
      };
    }
    try {
      await aborting;
      return { error, note: ` The multipart upload ${UploadId} was aborted; no parts remain.` };
    } catch (abortError) {
      return {
        error,
        note: ` Aborting multipart upload ${UploadId} failed too (${(abortError as Error).message}); its parts stay on the server until an "incomplete multipart uploads" lifecycle rule removes them.`,
      };
    }
  }
}
