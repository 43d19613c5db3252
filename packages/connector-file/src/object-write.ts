import fs from 'node:fs';
import { errnoOf, ioError } from './io-error.js';
import type { MarkerSource } from './marker-source.js';
import { type ObjectPaths, WRITE_CHUNK } from './object-paths.js';

type Done = (error: NodeJS.ErrnoException | null) => void;

/** What a write takes: one buffer, or pieces written back to back (never joined in memory). */
export type WriteData = Uint8Array | readonly Uint8Array[];

function pieces(data: WriteData): readonly Uint8Array[] {
  return data instanceof Uint8Array ? [data] : data;
}

function writeParts(fd: number, parts: readonly Uint8Array[], index: number, done: Done): void {
  if (index >= parts.length) {
    done(null);
    return;
  }
  writeAll(fd, parts[index]!, 0, (error) =>
    error ? done(error) : writeParts(fd, parts, index + 1, done),
  );
}

function writeAll(fd: number, data: Uint8Array, offset: number, done: Done): void {
  if (offset >= data.byteLength) {
    done(null);
    return;
  }
  fs.write(
    fd,
    data,
    offset,
    Math.min(WRITE_CHUNK, data.byteLength - offset),
    null,
    (error, written) => {
      if (error) return done(error);
      writeAll(fd, data, offset + written, done);
    },
  );
}

function fsyncDir(dir: string, done: Done): void {
  fs.open(dir, 'r', (error, fd) => {
    if (error) return done(error);
    fs.fsync(fd, (syncError) => fs.close(fd, (closeError) => done(syncError ?? closeError)));
  });
}

/**
 * Writes `data` crash-safely: a temp file (one open, one write, close), renamed over `<uuid>`,
 * then the empty marker. A writer killed at any point leaves no data file or a complete one,
 * and a data file counts only once its marker exists; on failure the temp file is removed.
 * Callbacks rather than `fs.promises`: each step costs one thread-pool trip and no FileHandle.
 * With `fsync`, the bytes are flushed before the rename and the directory after the marker.
 */
export function writeObject(
  paths: ObjectPaths,
  data: WriteData,
  markers: MarkerSource,
  fsync: boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (action: string, target: string, error: unknown, cleanup?: string) => {
      if (!cleanup) return reject(ioError(action, target, error));
      fs.unlink(cleanup, () => reject(ioError(action, target, error)));
    };
    fs.open(paths.temp, 'wx', (openError, fd) => {
      if (openError) return fail('create temp file', paths.temp, openError);
      writeParts(fd, pieces(data), 0, (writeError) => {
        const close = (syncError: NodeJS.ErrnoException | null) =>
          fs.close(fd, (closeError) => {
            const error = writeError ?? syncError ?? closeError;
            if (error) return fail('write', paths.temp, error, paths.temp);
            fs.rename(paths.temp, paths.data, (renameError) => {
              if (renameError) {
                return fail(`rename ${paths.temp} to`, paths.data, renameError, paths.temp);
              }
              markers.create(paths.marker, (markerError) => {
                if (markerError) return fail('create marker', paths.marker, markerError);
                if (!fsync) return resolve();
                fsyncDir(paths.dir, (dirError) =>
                  dirError ? fail('fsync', paths.dir, dirError) : resolve(),
                );
              });
            });
          });
        if (writeError || !fsync) close(null);
        else fs.fsync(fd, close);
      });
    });
  });
}

/** `writeObject`, blocking (used for small objects, where it is faster). */
export function writeObjectSync(
  paths: ObjectPaths,
  data: WriteData,
  markers: MarkerSource,
  fsync: boolean,
): void {
  let fd: number;
  try {
    fd = fs.openSync(paths.temp, 'wx');
  } catch (error) {
    throw ioError('create temp file', paths.temp, error);
  }
  try {
    try {
      for (const part of pieces(data)) {
        for (let offset = 0; offset < part.byteLength; ) {
          offset += fs.writeSync(fd, part, offset, Math.min(WRITE_CHUNK, part.byteLength - offset));
        }
      }
      if (fsync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(paths.temp, paths.data);
  } catch (error) {
    try {
      fs.unlinkSync(paths.temp);
    } catch {
      // Already renamed, or the directory is gone: nothing to clean up.
    }
    throw ioError('write', paths.data, error);
  }
  try {
    markers.createSync(paths.marker);
  } catch (error) {
    throw ioError('create marker', paths.marker, error);
  }
  if (fsync) {
    try {
      const dirFd = fs.openSync(paths.dir, 'r');
      try {
        fs.fsyncSync(dirFd);
      } finally {
        fs.closeSync(dirFd);
      }
    } catch (error) {
      throw ioError('fsync', paths.dir, error);
    }
  }
}

/** Removes marker then data, so a concurrent reader sees the object vanish, never half of it. */
export function removeObject(paths: Pick<ObjectPaths, 'data' | 'marker'>): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.unlink(paths.marker, (markerError) => {
      if (markerError && errnoOf(markerError) !== 'ENOENT')
        return reject(ioError('remove', paths.marker, markerError));
      fs.unlink(paths.data, (dataError) => {
        if (dataError && errnoOf(dataError) !== 'ENOENT')
          return reject(ioError('remove', paths.data, dataError));
        resolve();
      });
    });
  });
}
