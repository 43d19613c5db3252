import { constants } from 'node:buffer';
import fs from 'node:fs';
import { ConnectorError } from '@proxy/core';
import { errnoOf, ioError } from './io-error.js';
import { MAX_READ, type ObjectPaths } from './object-paths.js';

function readAll(
  fd: number,
  out: Buffer,
  offset: number,
  done: (error: NodeJS.ErrnoException | null, end: number) => void,
): void {
  if (offset >= out.byteLength) {
    done(null, offset);
    return;
  }
  fs.read(fd, out, offset, Math.min(MAX_READ, out.byteLength - offset), null, (error, read) => {
    if (error) return done(error, offset);
    if (read === 0) return done(null, offset);
    readAll(fd, out, offset + read, done);
  });
}

function removedUnderReader(paths: ObjectPaths, error: unknown) {
  return ioError(
    'read',
    paths.data,
    error,
    `Its marker ${paths.marker} exists, so the data file was removed by something other than evict()`,
  );
}

/**
 * Opens the data file of a complete object, blocking; `null` when its marker does not exist
 * (never written, still being written, or evicted). The marker is checked before the bytes are
 * read because a Python ProxyStore writer writes `<uuid>` in place and creates the marker last.
 */
function openObjectSync(paths: ObjectPaths): number | null {
  try {
    fs.accessSync(paths.marker);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return null;
    throw ioError('check marker', paths.marker, error);
  }
  try {
    return fs.openSync(paths.data, 'r');
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw ioError('open', paths.data, error);
    // evict() removes the marker before the data: a marker gone by now means a racing evict.
    if (!fs.existsSync(paths.marker)) return null;
    throw removedUnderReader(paths, error);
  }
}

function changedUnderReader(file: string, read: number, size: number, sizeNow: number) {
  return new ConnectorError(
    `FileConnector: ${file} changed while it was being read (${read} bytes read, ${size} when opened, ${sizeNow} now). ` +
      'This package never rewrites a file in place (it renames a new one over it); another writer did, so the bytes read are not returned',
  );
}

/** An object larger than one Buffer can hold; checked before anything is allocated. */
function tooLarge(file: string, size: number): ConnectorError | undefined {
  if (size <= constants.MAX_LENGTH) return undefined;
  return new ConnectorError(
    `FileConnector: ${file} has ${size} bytes, more than the largest Buffer this Node.js can allocate (${constants.MAX_LENGTH} bytes); it cannot be read into memory`,
  );
}

// Not readFileSync/readFile: they return pooled Buffers for small files, and a pooled Buffer
// that is later transferred to a worker silently copies its whole 8 KB pool.
/**
 * Reads the `size` bytes of the open file `fd` (size from fstat at open) and closes it. If the
 * file is shorter or longer by the end of the read (written in place by another writer while
 * we read), this throws rather than return a part of an object as if it were all of it.
 */
export function readFdSync(fd: number, size: number, file: string): Buffer {
  const large = tooLarge(file, size);
  if (large) {
    fs.closeSync(fd);
    throw large;
  }
  const out = Buffer.allocUnsafeSlow(size);
  let end = 0;
  let sizeNow: number;
  try {
    while (end < size) {
      const read = fs.readSync(fd, out, end, Math.min(MAX_READ, size - end), null);
      if (read === 0) break;
      end += read;
    }
    sizeNow = fs.fstatSync(fd).size;
  } catch (error) {
    throw ioError('read', file, error);
  } finally {
    fs.closeSync(fd);
  }
  if (end !== size || sizeNow !== size) throw changedUnderReader(file, end, size, sizeNow);
  return out;
}

/** `readFdSync` with each step in the thread pool. */
export function readFdAsync(fd: number, size: number, file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const large = tooLarge(file, size);
    if (large) return fs.close(fd, () => reject(large));
    const out = Buffer.allocUnsafeSlow(size);
    readAll(fd, out, 0, (readError, end) => {
      const finish = (error: NodeJS.ErrnoException | null, sizeNow: number) =>
        fs.close(fd, () => {
          if (error) return reject(ioError('read', file, error));
          if (end !== size || sizeNow !== size)
            return reject(changedUnderReader(file, end, size, sizeNow));
          resolve(out);
        });
      if (readError) return finish(readError, -1);
      fs.fstat(fd, (statError, stat) => finish(statError, stat?.size ?? -1));
    });
  });
}

/** Opens a complete object and reads its size (blocking); `null` when there is no object. */
function openWithSizeSync(paths: ObjectPaths): { fd: number; size: number } | null {
  const fd = openObjectSync(paths);
  if (fd === null) return null;
  try {
    return { fd, size: fs.fstatSync(fd).size };
  } catch (error) {
    fs.closeSync(fd);
    throw ioError('stat', paths.data, error);
  }
}

/** `readObject`, blocking: lets a proxy resolve on first use without the worker bridge. */
export function readObjectSync(paths: ObjectPaths): Uint8Array | null {
  const opened = openWithSizeSync(paths);
  return opened && readFdSync(opened.fd, opened.size, paths.data);
}

/**
 * Reads a complete object, or `null`. With `syncBelowBytes > 0` the metadata steps (marker check,
 * open, stat) and the read of an object under that size block: on a local disk they finish
 * faster than the thread-pool round trips they replace. Larger bodies are always read off-thread.
 */
export async function readObject(
  paths: ObjectPaths,
  syncBelowBytes: number,
): Promise<Uint8Array | null> {
  if (syncBelowBytes === 0) return readObjectAsync(paths);
  const opened = openWithSizeSync(paths);
  if (opened === null) return null;
  const { fd, size } = opened;
  return size < syncBelowBytes
    ? readFdSync(fd, size, paths.data)
    : readFdAsync(fd, size, paths.data);
}

/** `readObject` with every step in the thread pool (nothing blocks the event loop). */
function readObjectAsync(paths: ObjectPaths): Promise<Uint8Array | null> {
  return new Promise((resolve, reject) => {
    fs.access(paths.marker, (markerError) => {
      if (markerError) {
        if (errnoOf(markerError) === 'ENOENT') return resolve(null);
        return reject(ioError('check marker', paths.marker, markerError));
      }
      fs.open(paths.data, 'r', (openError, fd) => {
        if (openError) {
          if (errnoOf(openError) !== 'ENOENT')
            return reject(ioError('open', paths.data, openError));
          return fs.access(paths.marker, (again) =>
            again ? resolve(null) : reject(removedUnderReader(paths, openError)),
          );
        }
        fs.fstat(fd, (statError, stat) => {
          if (statError) return fs.close(fd, () => reject(ioError('stat', paths.data, statError)));
          readFdAsync(fd, stat.size, paths.data).then(resolve, reject);
        });
      });
    });
  });
}

/** Whether the object's marker exists. */
export function objectExists(paths: Pick<ObjectPaths, 'marker'>): Promise<boolean> {
  return new Promise((resolve, reject) => {
    fs.access(paths.marker, (error) => {
      if (!error) return resolve(true);
      if (errnoOf(error) === 'ENOENT') return resolve(false);
      reject(ioError('check marker', paths.marker, error));
    });
  });
}
