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

/** fs.read takes at most 2 GiB - 1 per call; larger objects are read in 1 GiB steps. */
export const MAX_READ = 1 << 30;

/**
 * Writes go in 4 MiB steps: measured on ext4 (100 MB object), 1–8 MiB steps beat one giant
 * write by about a third, and beat fs.promises.writeFile's 512 KiB steps too.
 */
export const WRITE_CHUNK = 4 << 20;
