import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  type ConnectorConfig,
  ConnectorError,
  type DeferrableConnector,
  formatKey,
  mapLimit,
  type WaitOptions,
} from '@proxy/core';
import {
  assertFileKey,
  type FileKey,
  fileNameOf,
  isLayoutName,
  READY_SUFFIX,
  TEMP_PREFIX,
} from './file-key.js';
import { errnoOf, ioError } from './io-error.js';
import { MARKER_SOURCE, MarkerSource } from './marker-source.js';
import { MarkerWatcher } from './marker-watcher.js';
import type { ObjectPaths } from './object-paths.js';
import { objectExists, readObject, readObjectSync } from './object-read.js';
import { removeObject, type WriteData, writeObject, writeObjectSync } from './object-write.js';

/**
 * What `close()` deletes: `false` nothing; `true` the objects this connector instance wrote
 * (and the directory, if this instance created it and it is left empty); `'all'` every object,
 * marker and temp file in the directory (other files are never touched), then the directory if empty.
 */
export type ClearMode = boolean | 'all';

export interface FileConnectorOptions {
  /** Directory that holds the objects; relative paths resolve against the working directory. */
  storeDir: string;
  /** What `close()` deletes by default (see `ClearMode`). Default `false`. Not carried in `config()`. */
  clear?: ClearMode;
  /** Create missing parents of `storeDir` too (like `mkdir -p`). Default `false`. */
  createParents?: boolean;
  /** `fsync` each object before it becomes visible, so it also survives a power loss. Default `false`. */
  fsync?: boolean;
  /** Longest pause between the directory polls `waitFor` runs beside fs.watch. Default 1000 ms. */
  maxPollMs?: number;
  /**
   * Let `waitFor` use fs.watch on the directory. Default `true`. Polling runs either way; turn
   * watching off where it cannot see other writers (NFS and other network file systems).
   */
  watch?: boolean;
  /** File operations in flight at once in `putBatch`, `getBatch` and `evictBatch`. Default 16. */
  batchConcurrency?: number;
  /**
   * Objects smaller than this are written and read with blocking calls, and every read does its
   * marker check, open and stat blocking: on a local disk that costs less than the thread-pool
   * round trips it saves. Use 0 on network file systems, where one metadata call can take
   * milliseconds and would stall the event loop. Default 65536 (64 KiB).
   */
  syncBelowBytes?: number;
}

export interface FileCloseOptions {
  /** Overrides the constructor's `clear` for this close. */
  clear?: ClearMode;
}

const DEFAULT_MAX_POLL_MS = 1000;
const DEFAULT_BATCH_CONCURRENCY = 16;
const DEFAULT_SYNC_BELOW_BYTES = 64 * 1024;

function assertOption(ok: boolean, message: string): void {
  if (!ok) throw new TypeError(`FileConnector: ${message}`);
}

function positiveInteger(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

/**
 * Objects as files in one directory, in Python ProxyStore's layout: the bytes at
 * `<storeDir>/<uuid>`, then an empty `<storeDir>/<uuid>.ready` marker. Writes go to a temp file
 * that is renamed into place, so a crashed writer never leaves partial data that reads as an object.
 */
export class FileConnector implements DeferrableConnector<FileKey> {
  static readonly packageName = '@proxy/connector-file';

  /** Absolute path of the store directory. */
  readonly storeDir: string;
  readonly clear: ClearMode;
  readonly fsync: boolean;
  readonly maxPollMs: number;
  readonly watch: boolean;
  readonly batchConcurrency: number;
  readonly syncBelowBytes: number;
  private readonly createdDir: boolean;
  /** Objects this instance wrote and has not evicted: what `close({ clear: true })` removes. */
  private readonly created = new Set<string>();
  private readonly watcher: MarkerWatcher;
  private readonly markers: MarkerSource;
  private readonly tempTag = randomBytes(4).toString('hex');
  private tempSeq = 0;

  constructor(options: FileConnectorOptions) {
    assertOption(
      typeof options === 'object' && options !== null,
      'options must be an object with storeDir',
    );
    const { storeDir } = options;
    assertOption(
      typeof storeDir === 'string' && storeDir.length > 0 && !storeDir.includes('\0'),
      `storeDir must be a non-empty path; got ${formatKey(storeDir)}`,
    );
    const clear = options.clear ?? false;
    assertOption(
      typeof clear === 'boolean' || clear === 'all',
      `clear must be true, false or 'all'; got ${formatKey(clear)}`,
    );
    this.maxPollMs = options.maxPollMs ?? DEFAULT_MAX_POLL_MS;
    assertOption(
      positiveInteger(this.maxPollMs),
      `maxPollMs must be a positive integer; got ${formatKey(options.maxPollMs)}`,
    );
    this.batchConcurrency = options.batchConcurrency ?? DEFAULT_BATCH_CONCURRENCY;
    assertOption(
      positiveInteger(this.batchConcurrency),
      `batchConcurrency must be a positive integer; got ${formatKey(options.batchConcurrency)}`,
    );
    this.syncBelowBytes = options.syncBelowBytes ?? DEFAULT_SYNC_BELOW_BYTES;
    assertOption(
      Number.isInteger(this.syncBelowBytes) && this.syncBelowBytes >= 0,
      `syncBelowBytes must be an integer >= 0; got ${formatKey(options.syncBelowBytes)}`,
    );
    this.clear = clear;
    this.fsync = options.fsync ?? false;
    this.watch = options.watch ?? true;
    this.storeDir = path.resolve(storeDir);
    this.createdDir = ensureDirectory(this.storeDir, options.createParents ?? false);
    this.watcher = new MarkerWatcher(this.storeDir, this.maxPollMs, this.watch);
    this.markers = new MarkerSource(this.storeDir);
  }

  /**
   * Rebuilds a connector from `config().options`, as received with a proxy. A received config
   * is data from elsewhere, so it cannot ask for what only the constructor may: `clear` (delete
   * on close) and `createParents` (create directories) are ignored here. Core closes the
   * connectors it rebuilds, so honouring a crafted `clear: 'all'` would delete a shared directory.
   */
  static fromConfig(options: Record<string, unknown>): FileConnector {
    const { clear: _clear, createParents: _createParents, ...rest } = options;
    return new FileConnector(rest as unknown as FileConnectorOptions);
  }

  /**
   * `clear` and `createParents` stay out: a connector rebuilt from a proxy in another process
   * must never delete the producer's data, nor create directories the producer did not ask for.
   */
  config(): ConnectorConfig {
    const options: Record<string, unknown> = { storeDir: this.storeDir };
    if (this.fsync) options.fsync = true;
    if (!this.watch) options.watch = false;
    if (this.maxPollMs !== DEFAULT_MAX_POLL_MS) options.maxPollMs = this.maxPollMs;
    if (this.batchConcurrency !== DEFAULT_BATCH_CONCURRENCY)
      options.batchConcurrency = this.batchConcurrency;
    if (this.syncBelowBytes !== DEFAULT_SYNC_BELOW_BYTES)
      options.syncBelowBytes = this.syncBelowBytes;
    return { module: FileConnector.packageName, type: 'FileConnector', options };
  }

  validateKey(key: unknown): asserts key is FileKey {
    assertFileKey(key);
  }

  private paths(name: string): ObjectPaths {
    const data = this.storeDir + path.sep + name;
    return {
      dir: this.storeDir,
      data,
      marker: data + READY_SUFFIX,
      temp: `${this.storeDir}${path.sep}${TEMP_PREFIX}${name}.${this.tempTag}${(this.tempSeq++).toString(36)}`,
    };
  }

  private async write(name: string, data: WriteData): Promise<void> {
    const parts = data instanceof Uint8Array ? [data] : data;
    if (!Array.isArray(parts) || !parts.every((p) => p instanceof Uint8Array)) {
      throw new TypeError(`FileConnector: data must be a Uint8Array; got ${typeof data}`);
    }
    const paths = this.paths(name);
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    if (size < this.syncBelowBytes) writeObjectSync(paths, data, this.markers, this.fsync);
    else await writeObject(paths, data, this.markers, this.fsync);
    this.created.add(name);
  }

  async put(data: Uint8Array): Promise<FileKey> {
    const filename = randomUUID();
    await this.write(filename, data);
    return { filename };
  }

  /** `put` of the concatenation of `parts`, written piece by piece (no copy). */
  async putParts(parts: readonly Uint8Array[]): Promise<FileKey> {
    const filename = randomUUID();
    await this.write(filename, parts);
    return { filename };
  }

  /**
   * `put` of each item, `batchConcurrency` at a time. If one fails, the objects already written
   * for this batch are removed again before the error is thrown: the caller never got their
   * keys, so nothing else could ever evict them.
   */
  async putBatch(data: Uint8Array[]): Promise<FileKey[]> {
    const written: string[] = [];
    try {
      return await mapLimit(data, this.batchConcurrency, async (d) => {
        const key = await this.put(d);
        written.push(key.filename);
        return key;
      });
    } catch (error) {
      // Best effort: the batch's own error is the one worth reporting, and whatever cannot be
      // removed now stays in `created`, so close({ clear: true }) still removes it.
      await mapLimit(written, this.batchConcurrency, (name) => this.remove(name)).catch(
        () => undefined,
      );
      throw error;
    }
  }

  async get(key: FileKey): Promise<Uint8Array | null> {
    return readObject(this.paths(fileNameOf(key)), this.syncBelowBytes);
  }

  /** `get`, blocking: a proxy to this store resolves on first use without the worker bridge. */
  getSync(key: FileKey): Uint8Array | null {
    return readObjectSync(this.paths(fileNameOf(key)));
  }

  async getBatch(keys: FileKey[]): Promise<(Uint8Array | null)[]> {
    const names = keys.map(fileNameOf);
    return mapLimit(names, this.batchConcurrency, (name) =>
      readObject(this.paths(name), this.syncBelowBytes),
    );
  }

  async exists(key: FileKey): Promise<boolean> {
    return objectExists(this.paths(fileNameOf(key)));
  }

  async evict(key: FileKey): Promise<void> {
    await this.remove(fileNameOf(key));
  }

  async evictBatch(keys: FileKey[]): Promise<void> {
    const names = keys.map(fileNameOf);
    await mapLimit(names, this.batchConcurrency, (name) => this.remove(name));
  }

  private async remove(name: string): Promise<void> {
    await removeObject(this.paths(name));
    this.created.delete(name);
  }

  async newKey(): Promise<FileKey> {
    return { filename: randomUUID() };
  }

  /** Writes (or atomically replaces) the object behind `key`; waiters on it wake up. */
  async set(key: FileKey, data: Uint8Array): Promise<void> {
    await this.write(fileNameOf(key), data);
  }

  /**
   * Resolves once `key`'s marker exists (written by this or any process). Rejects with
   * `FutureTimeoutError` after `timeoutMs`, or with `signal.reason` when aborted.
   */
  async waitFor(key: FileKey, options: WaitOptions = {}): Promise<void> {
    const filename = fileNameOf(key);
    return this.watcher.wait(filename + READY_SUFFIX, {
      ...options,
      label: `key=${formatKey({ filename })}`,
    });
  }

  /**
   * Stops pending `waitFor` calls (they reject with `ConnectorError`) and deletes what
   * `clear` says. The connector holds no open handles otherwise and stays usable.
   */
  async close(options: FileCloseOptions = {}): Promise<void> {
    this.watcher.close(
      new ConnectorError(`FileConnector(${this.storeDir}) was closed while waiting for a key`),
    );
    const clear = options.clear ?? this.clear;
    if (clear === false) return;
    if (clear === 'all') {
      await this.removeAll();
    } else {
      const names = [...this.created];
      await mapLimit(names, this.batchConcurrency, (name) => removeObject(this.paths(name)));
      this.created.clear();
    }
    if (clear === 'all' || this.createdDir) {
      // The shared marker source is not data; it goes with the directory.
      if (clear === 'all' || (await onlyMarkerSourceLeft(this.storeDir)))
        await this.markers.remove();
      await removeIfEmpty(this.storeDir);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async removeAll(): Promise<void> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.storeDir);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return;
      throw ioError('list', this.storeDir, error);
    }
    const doomed = names.filter(isLayoutName);
    // Markers first, so no reader sees an object whose data is already gone.
    const markers = doomed.filter((n) => n.endsWith(READY_SUFFIX));
    const rest = doomed.filter((n) => !n.endsWith(READY_SUFFIX));
    for (const group of [markers, rest]) {
      await mapLimit(group, this.batchConcurrency, async (name) => {
        const file = this.storeDir + path.sep + name;
        await fs.promises.unlink(file).catch((error: unknown) => {
          if (errnoOf(error) !== 'ENOENT') throw ioError('remove', file, error);
        });
      });
    }
    this.created.clear();
  }

  toString(): string {
    return `FileConnector(storeDir=${JSON.stringify(this.storeDir)})`;
  }
}

/** Makes sure `dir` is a directory; returns whether it had to be created. */
function ensureDirectory(dir: string, createParents: boolean): boolean {
  try {
    if (fs.statSync(dir).isDirectory()) return false;
    throw new ConnectorError(`FileConnector: store directory ${dir} exists but is not a directory`);
  } catch (error) {
    if (ConnectorError.is(error)) throw error;
    if (errnoOf(error) !== 'ENOENT') throw ioError('use store directory', dir, error);
  }
  try {
    fs.mkdirSync(dir, { recursive: createParents });
    return true;
  } catch (error) {
    if (errnoOf(error) === 'EEXIST') return false;
    const hint =
      errnoOf(error) === 'ENOENT'
        ? `Its parent ${path.dirname(dir)} does not exist; create it, fix the path (is a shared disk mounted?) or pass createParents: true`
        : undefined;
    throw ioError('create store directory', dir, error, hint);
  }
}

async function onlyMarkerSourceLeft(dir: string): Promise<boolean> {
  const names = await fs.promises.readdir(dir).catch(() => []);
  return names.length === 1 && names[0] === MARKER_SOURCE;
}

async function removeIfEmpty(dir: string): Promise<void> {
  try {
    await fs.promises.rmdir(dir);
  } catch (error) {
    const code = errnoOf(error);
    if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST')
      throw ioError('remove', dir, error);
  }
}
