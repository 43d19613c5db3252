/** What one object occupies on disk. */
export interface ObjectPaths {
  /** The store directory. */
  dir: string;
  /** `<dir>/<uuid>`: the bytes. */
  data: string;
  /** `<dir>/<uuid>.ready`: empty, created only once `data` is complete. */
  marker: string;
  /** `<dir>/.tmp-<uuid>.<tag>`: where the bytes are written before being renamed to `data`. */
  temp: string;
}

/** fs.read/fs.write take at most 2 GiB - 1 per call; larger buffers go in 1 GiB steps. */
export const MAX_IO = 1 << 30;
