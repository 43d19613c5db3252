import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { MAX_PARTS } from './s3-connector-options.js';

export interface MultipartUploadOptions {
  client: S3Client;
  bucket: string;
  objectKey: string;
  body: Buffer;
  partSizeBytes: number;
  concurrency: number;
  /** Sends AbortMultipartUpload for the upload id (with the connector's deadline and errors). */
  abort(uploadId: string): Promise<void>;
}

/** Why an upload failed, and what became of its parts (appended to the error message). */
export interface MultipartUploadFailure {
  error: unknown;
  note: string;
}

/**
 * Uploads `body` in parts through lib-storage (zero-copy slices, `concurrency` in flight).
 * On failure lib-storage has already waited for the parts in flight; then the upload is
 * aborted so S3 drops every part. We abort ourselves rather than letting lib-storage do it,
 * because lib-storage replaces the upload's error with the abort's when the abort fails too;
 * this way the caller's message keeps both, plus the upload id.
 */
export async function uploadMultipart(
  options: MultipartUploadOptions,
): Promise<MultipartUploadFailure | undefined> {
  const { body } = options;
  const upload = new Upload({
    client: options.client,
    params: {
      Bucket: options.bucket,
      Key: options.objectKey,
      Body: body,
      ContentLength: body.byteLength,
    },
    // Never more than S3's 10 000 parts.
    partSize: Math.max(options.partSizeBytes, Math.ceil(body.byteLength / MAX_PARTS)),
    queueSize: options.concurrency,
    leavePartsOnError: true,
  });
  try {
    await upload.done();
    return undefined;
  } catch (error) {
    const uploadId = upload.uploadId;
    if (uploadId === undefined) return { error, note: '' };
    try {
      await options.abort(uploadId);
      return { error, note: ` The multipart upload ${uploadId} was aborted; no parts remain.` };
    } catch (abortError) {
      return {
        error,
        note: ` Aborting multipart upload ${uploadId} failed too (${(abortError as Error).message}); its parts stay on the server until an "incomplete multipart uploads" lifecycle rule removes them.`,
      };
    }
  }
}
