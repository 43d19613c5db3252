import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  EmptyBodyError,
  type EndpointStorage,
  ObjectTooLargeError,
  type StorageStats,
  type StoredObject,
  type WriteOptions,
} from './storage.js';

const TMP_SUFFIX = '.tmp';

/**
 * Temp files start with a dot, which no object id may (`isObjectId`): an object whose id ends
 * in `.tmp` is never mistaken for a crash leftover, and a temp name never collides with an id.
 */
function isTempFile(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TMP_SUFFIX);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Objects as files `<dataDir>/<id>`. A body streams into `.<id>.<random>.tmp`, is fsynced and
 * renamed over the final name, so a reader (or a restart after a crash) sees either the whole
 * old object, the whole new one, or none: never a torn file. Memory use does not grow with
 * the object size.
 */
export class FileStorage implements EndpointStorage {
  private constructor(
    readonly dir: string,
    readonly maxObjectSize: number,
  ) {}

  static async open(dir: string, maxObjectSize: number): Promise<FileStorage> {
    await fsp.mkdir(dir, { recursive: true });
    // Temp files left by a crash were never renamed, so no client was told they were stored.
    for (const name of await fsp.readdir(dir)) {
      if (isTempFile(name)) await fsp.rm(path.join(dir, name), { force: true });
    }
    return new FileStorage(dir, maxObjectSize);
  }

  private file(id: string): string {
    return path.join(this.dir, id);
  }

  async write(id: string, body: Readable, options: WriteOptions = {}): Promise<number> {
    const tmp = path.join(this.dir, `.${id}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`);
    const limit = this.maxObjectSize;
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        options.onStored?.(out.bytesWritten);
        callback(size > limit ? new ObjectTooLargeError(limit) : null, chunk);
      },
      flush(callback) {
        callback(size === 0 && !options.allowEmpty ? new EmptyBodyError() : null);
      },
    });
    const out = fs.createWriteStream(tmp, { flags: 'wx', flush: true });
    const written = pipeline(counter, out);
    // `body` stays out of the pipeline: on an error the pipeline would destroy it, and with it
    // the client's socket, before the server could answer 413.
    const onClose = () => {
      if (!body.readableEnded) counter.destroy(new Error('the request body was cut off'));
    };
    body.once('close', onClose);
    body.pipe(counter);
    try {
      await written;
      options.onStored?.(size);
      await fsp.rename(tmp, this.file(id));
      // The rename is an entry in the directory: sync it too, or a crash may forget it.
      await syncDir(this.dir);
    } catch (error) {
      body.unpipe(counter);
      await fsp.rm(tmp, { force: true });
      throw error;
    } finally {
      body.off('close', onClose);
    }
    return size;
  }

  async read(id: string): Promise<StoredObject | null> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(this.file(id), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    // The open handle keeps the bytes readable even if the object is evicted or replaced meanwhile.
    const { size } = await handle.stat();
    return {
      size,
      stream: () => handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: true }),
    };
  }

  async has(id: string): Promise<boolean> {
    try {
      await fsp.access(this.file(id));
      return true;
    } catch (error) {
      // Only "no such file" means absent; a disk or permission error must not pass for it.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  async delete(id: string): Promise<void> {
    await fsp.rm(this.file(id), { force: true });
  }

  async stats(): Promise<StorageStats> {
    let objects = 0;
    let bytes = 0;
    for (const name of await fsp.readdir(this.dir)) {
      if (isTempFile(name)) continue;
      const st = await fsp.stat(path.join(this.dir, name)).catch(() => null);
      if (st?.isFile()) {
        objects++;
        bytes += st.size;
      }
    }
    return { objects, bytes };
  }

  async close(): Promise<void> {}
}
