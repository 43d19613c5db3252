import type { Readable } from 'node:stream';

/** Thrown by a storage while reading a body that turns out larger than its limit. */
export class ObjectTooLargeError extends Error {
  override name = 'ObjectTooLargeError';
  constructor(readonly limit: number) {
    super(`object is larger than this endpoint's maximum of ${limit} bytes`);
  }
}

/** Thrown when a body is empty and the request did not say `allow_empty=true`. */
export class EmptyBodyError extends Error {
  override name = 'EmptyBodyError';
  constructor() {
    super('received empty payload (send allow_empty=true to store an empty object)');
  }
}

export interface WriteOptions {
  /** Accept a zero-byte body; otherwise `EmptyBodyError` and nothing is stored. */
  allowEmpty?: boolean;
  /**
   * Called as the body is stored, with the number of its bytes that have reached the storage
   * (written to disk, or kept in memory) so far. The server uses it to measure how much of an
   * upload it holds in between (`/stats` `maxUploadHeldBytes`).
   */
  onStored?: (bytes: number) => void;
}

/** A stored object, ready to be streamed out. */
export interface StoredObject {
  size: number;
  stream(): Readable;
}

/** Where an endpoint keeps the objects it owns. Ids are already validated (safe file names). */
export interface EndpointStorage {
  readonly maxObjectSize: number;
  /**
   * Stores the bytes of `body` under `id`, replacing any previous object only once the new
   * one is complete: a failed or oversized write leaves the old object (or nothing) behind.
   */
  write(id: string, body: Readable, options?: WriteOptions): Promise<number>;
  read(id: string): Promise<StoredObject | null>;
  has(id: string): Promise<boolean>;
  delete(id: string): Promise<void>;
  stats(): Promise<StorageStats>;
  close(): Promise<void>;
}

export interface StorageStats {
  objects: number;
  bytes: number;
}
