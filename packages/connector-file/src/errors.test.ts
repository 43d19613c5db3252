import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { thrown } from '@proxy/connector-test-suite';
import { ConnectorError } from '@proxy/core';
import { FileConnector } from './file-connector.js';
import { readFdAsync, readFdSync } from './object-read.js';
import { fixture, runNode } from './test-child.js';
import { removeTempDirs, tempDir } from './test-dirs.js';

afterAll(() => removeTempDirs());

test('a store directory whose parent does not exist: ConnectorError naming both paths', () => {
  const parent = path.join(tempDir(), 'not-mounted');
  const storeDir = path.join(parent, 'store');
  const error = thrown(() => new FileConnector({ storeDir }));
  expect(error).toBeInstanceOf(ConnectorError);
  expect(error.message).toContain(storeDir);
  expect(error.message).toContain(`parent ${parent} does not exist`);
  expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  expect(fs.existsSync(parent)).toBe(false);
});

test('a store directory that is a file: ConnectorError naming the path', () => {
  const storeDir = path.join(tempDir(), 'a-file');
  fs.writeFileSync(storeDir, '');
  const error = thrown(() => new FileConnector({ storeDir }));
  expect(error).toBeInstanceOf(ConnectorError);
  expect(error.message).toContain(`${storeDir} exists but is not a directory`);
});

/** The unprivileged child must be able to reach the fixture and the packages it imports. */
/** Whether user "nobody" can reach `script` (every parent directory traversable by others). */
function othersCanRun(script: string): boolean {
  for (let dir = path.dirname(script); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return false;
  }
  return true;
}

/** `chattr +i`: an immutable directory refuses new entries even to root (EPERM). */
function makeImmutable(dir: string, on: boolean): boolean {
  return spawnSync('chattr', [on ? '+i' : '-i', dir]).status === 0;
}

test('a directory that is not writable: put fails with ConnectorError naming the path; reading still works', async () => {
  const base = tempDir();
  fs.chmodSync(base, 0o755);
  const storeDir = path.join(base, 'read-only');
  const writer = new FileConnector({ storeDir });
  const key = await writer.put(Buffer.from('readable'));
  fs.chmodSync(storeDir, 0o555);
  // Root ignores permission bits, so as root the attempt runs in a child as user "nobody".
  const asRoot = process.getuid?.() === 0;
  for (const size of ['small', 'large']) {
    let outcome: {
      name?: string;
      connectorError?: boolean;
      message?: string;
      cause?: string;
      ok?: boolean;
    };
    if (asRoot && othersCanRun(fixture('try-write-child.mjs'))) {
      const child = await runNode(fixture('try-write-child.mjs'), [storeDir, size], {
        uid: 65534,
        gid: 65534,
      });
      expect(child.stderr).toBe('');
      outcome = JSON.parse(child.stdout);
    } else {
      // Root in a checkout "nobody" cannot enter (say under /root): make the directory
      // immutable instead, which refuses root too, with EPERM rather than EACCES.
      const immutable = asRoot && makeImmutable(storeDir, true);
      if (asRoot && !immutable)
        throw new Error(`cannot make ${storeDir} unwritable for root (no chattr)`);
      try {
        const error = await new FileConnector({ storeDir })
          .put(Buffer.from(size === 'large' ? 'x'.repeat(100_000) : 'small'))
          .catch((e: Error) => e);
        outcome = {
          name: (error as Error).name,
          connectorError: ConnectorError.is(error),
          message: (error as Error).message,
          cause: ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code,
        };
      } finally {
        if (immutable) makeImmutable(storeDir, false);
      }
    }
    expect(outcome.ok).toBeUndefined();
    expect(outcome.connectorError).toBe(true);
    expect(outcome.message).toContain(storeDir);
    const denied = outcome.cause === 'EPERM' ? 'operation not permitted' : 'permission denied';
    expect(outcome.message).toContain(denied);
    expect(['EACCES', 'EPERM']).toContain(outcome.cause);
  }
  expect(Buffer.from((await new FileConnector({ storeDir }).get(key))!).toString()).toBe(
    'readable',
  );
  expect(fs.readdirSync(storeDir).sort()).toEqual(
    ['.tmp-ready', key.filename, `${key.filename}.ready`].sort(),
  );
});

test('the store directory removed after construction: put is a ConnectorError with the path, get is null', async () => {
  const storeDir = path.join(tempDir(), 'store');
  const c = new FileConnector({ storeDir });
  const key = await c.put(Buffer.from('soon gone'));
  fs.rmSync(storeDir, { recursive: true });
  for (const size of [10, 200_000]) {
    const error = await c.put(Buffer.alloc(size)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(ConnectorError);
    expect((error as Error).message).toContain(storeDir);
    expect((error as Error).message).toContain('ENOENT');
  }
  expect(await c.get(key)).toBeNull();
  expect(c.getSync(key)).toBeNull();
  expect(await c.exists(key)).toBe(false);
});

describe('a file removed under a reader', () => {
  test('data removed while its marker stays: ConnectorError naming the data file and the marker', async () => {
    const c = new FileConnector({ storeDir: path.join(tempDir(), 'store') });
    for (const size of [10, 200_000]) {
      const key = await c.put(Buffer.alloc(size, 1));
      const data = path.join(c.storeDir, key.filename);
      fs.unlinkSync(data);
      const failures = [
        await c.get(key).catch((e: Error) => e),
        thrown(() => c.getSync(key)),
        await new FileConnector({ storeDir: c.storeDir, syncBelowBytes: 0 })
          .get(key)
          .catch((e: Error) => e),
      ];
      for (const error of failures) {
        expect(error).toBeInstanceOf(ConnectorError);
        expect((error as Error).message).toContain(data);
        expect((error as Error).message).toContain(`${data}.ready exists`);
      }
      await c.evict(key);
      expect(await c.get(key)).toBeNull();
    }
  });

  test('marker removed first (what evict does): the object is simply gone, get is null', async () => {
    const c = new FileConnector({ storeDir: path.join(tempDir(), 'store') });
    const key = await c.put(Buffer.from('racing'));
    fs.unlinkSync(path.join(c.storeDir, `${key.filename}.ready`));
    expect(await c.get(key)).toBeNull();
    expect(c.getSync(key)).toBeNull();
  });

  test('an I/O error other than a missing file is a ConnectorError, not null', async () => {
    const c = new FileConnector({ storeDir: path.join(tempDir(), 'store') });
    const key = await c.newKey();
    // A directory where the data file should be: open works, read fails with EISDIR.
    fs.mkdirSync(path.join(c.storeDir, key.filename));
    fs.writeFileSync(path.join(c.storeDir, `${key.filename}.ready`), '');
    for (const error of [await c.get(key).catch((e: Error) => e), thrown(() => c.getSync(key))]) {
      expect(error).toBeInstanceOf(ConnectorError);
      expect((error as Error).message).toContain(path.join(c.storeDir, key.filename));
      expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('EISDIR');
    }
  });
});

describe('a file rewritten in place under a reader (another writer, not this package)', () => {
  // The read helpers get an fd opened and sized before the change, as a reader racing the
  // writer would; both the blocking and the thread-pool read must refuse the bytes.
  const cases = [
    ['shrunk', (file: string) => fs.truncateSync(file, 500)],
    ['grown', (file: string) => fs.appendFileSync(file, Buffer.alloc(300, 2))],
  ] as const;
  test.each(cases)(
    '%s after open: ConnectorError naming the file, never a part of it',
    async (_label, change) => {
      const file = path.join(tempDir(), 'object');
      for (const read of [readFdSync, readFdAsync]) {
        fs.writeFileSync(file, Buffer.alloc(1000, 1));
        const fd = fs.openSync(file, 'r');
        const size = fs.fstatSync(fd).size;
        change(file);
        const error = await Promise.resolve()
          .then(() => read(fd, size, file))
          .then(
            () => undefined,
            (e: Error) => e,
          );
        expect(error).toBeInstanceOf(ConnectorError);
        expect(error!.message).toContain(`${file} changed while it was being read`);
      }
    },
  );

  test('an unchanged file reads back whole', async () => {
    const file = path.join(tempDir(), 'object');
    fs.writeFileSync(file, Buffer.alloc(1000, 3));
    for (const read of [readFdSync, readFdAsync]) {
      const fd = fs.openSync(file, 'r');
      const got = await read(fd, 1000, file);
      expect(Buffer.compare(got, Buffer.alloc(1000, 3))).toBe(0);
    }
  });
});

/** Open descriptors of this process that point at `file`. */
function fdsOn(file: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      // closed meanwhile (the descriptor readdir itself used)
    }
  }
  return n;
}

test('an object larger than a Buffer can hold (sparse 5 GiB file): ConnectorError naming key and size, no fd leaked', async () => {
  const hasProc = fs.existsSync('/proc/self/fd');
  for (const syncBelowBytes of [65536, 0]) {
    const c = new FileConnector({ storeDir: path.join(tempDir(), 'store'), syncBelowBytes });
    const key = await c.put(Buffer.from('small for now'));
    const data = path.join(c.storeDir, key.filename);
    const size = 5 * 1024 ** 3;
    const fd = fs.openSync(data, 'r+');
    fs.ftruncateSync(fd, size); // sparse: no disk space used
    fs.closeSync(fd);
    const fdsBefore = hasProc ? fs.readdirSync('/proc/self/fd').length : 0;
    for (const read of [() => c.get(key), async () => c.getSync(key)]) {
      for (let i = 0; i < 3; i++) {
        const error = await read().then(
          () => undefined,
          (e: Error) => e,
        );
        expect(error).toBeInstanceOf(ConnectorError);
        expect(error!.message).toContain(key.filename);
        expect(error!.message).toContain(String(size));
        expect(error!.message).toContain('cannot be read into memory');
      }
    }
    if (hasProc) {
      expect(fdsOn(data)).toBe(0);
      expect(fs.readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fdsBefore);
    }
    await c.close({ clear: true });
  }
});

test('fsync of the directory failing (EIO) is a ConnectorError naming the directory, on both write paths', async () => {
  const real = { openSync: fs.openSync, fsyncSync: fs.fsyncSync, open: fs.open, fsync: fs.fsync };
  const eio = () => Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
  for (const syncBelowBytes of [65536, 0]) {
    const c = new FileConnector({
      storeDir: path.join(tempDir(), 'store'),
      fsync: true,
      syncBelowBytes,
    });
    // Descriptors opened on the store directory: their fsync fails like a failing disk's.
    const dirFds = new Set<number>();
    const spies = [
      jest.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: [string]) => {
        const fd = real.openSync(file, ...rest);
        if (String(file) === c.storeDir) dirFds.add(fd);
        return fd;
      }) as typeof fs.openSync),
      jest.spyOn(fs, 'fsyncSync').mockImplementation((fd: number) => {
        if (dirFds.has(fd)) throw eio();
        real.fsyncSync(fd);
      }),
      jest.spyOn(fs, 'open').mockImplementation(((
        file: fs.PathLike,
        flags: string,
        callback: (error: NodeJS.ErrnoException | null, fd: number) => void,
      ) =>
        real.open(file, flags, (error, fd) => {
          if (!error && String(file) === c.storeDir) dirFds.add(fd);
          callback(error, fd);
        })) as typeof fs.open),
      jest.spyOn(fs, 'fsync').mockImplementation(((fd: number, callback: fs.NoParamCallback) => {
        if (dirFds.has(fd)) return callback(eio());
        real.fsync(fd, callback);
      }) as typeof fs.fsync),
    ];
    try {
      const error = await c.put(Buffer.from('durable?')).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(dirFds.size).toBe(1);
      expect(error).toBeInstanceOf(ConnectorError);
      expect(error!.message).toContain(`fsync ${c.storeDir}`);
      expect(error!.message).toContain('EIO');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  }
});
