import { Readable } from 'node:stream';
import {
  EmptyBodyError,
  type EndpointStorage,
  ObjectTooLargeError,
  type StorageStats,
  type StoredObject,
  type WriteOptions,
} from './storage.js';

/**
 * Objects in this process's memory. The chunks read from the socket are kept as they came
 * (no concatenation), so a body is copied once: from the kernel into those chunks.
 */
export class MemoryStorage implements EndpointStorage {
  private readonly objects = new Map<string, { chunks: Buffer[]; size: number }>();

  constructor(readonly maxObjectSize: number) {}

  write(id: string, body: Readable, options: WriteOptions = {}): Promise<number> {
    const chunks: Buffer[] = [];
    let size = 0;
    // Plain listeners rather than `for await`: leaving an async iterator early destroys the
    // body, and with it the client's socket, before the server could answer 413.
    return new Promise((resolve, reject) => {
      const stop = (error: Error | null) => {
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('close', onClose);
        body.off('error', stop);
        if (error) {
          body.pause();
          return reject(error);
        }
        if (size === 0 && !options.allowEmpty) return reject(new EmptyBodyError());
        this.objects.set(id, { chunks, size });
        resolve(size);
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.maxObjectSize) return stop(new ObjectTooLargeError(this.maxObjectSize));
        chunks.push(chunk);
        options.onStored?.(size);
      };
      const onEnd = () => stop(null);
      const onClose = () => stop(new Error('the request body was cut off'));
      body.on('data', onData);
      body.once('end', onEnd);
      body.once('close', onClose);
      body.once('error', stop);
    });
  }

  async read(id: string): Promise<StoredObject | null> {
    const object = this.objects.get(id);
    if (!object) return null;
    return { size: object.size, stream: () => Readable.from(object.chunks, { objectMode: false }) };
  }

  async has(id: string): Promise<boolean> {
    return this.objects.has(id);
  }

  async delete(id: string): Promise<void> {
    this.objects.delete(id);
  }

  async stats(): Promise<StorageStats> {
    let bytes = 0;
    for (const o of this.objects.values()) bytes += o.size;
    return { objects: this.objects.size, bytes };
  }

  async close(): Promise<void> {
    this.objects.clear();
  }
}
