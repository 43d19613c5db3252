import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  deserialize,
  getStore,
  isProxy,
  isResolved,
  registerConnector,
  Store,
  serialize,
  unregisterStore,
} from '@proxy/core';
import { FileConnector } from './file-connector.js';
import type { FileKey } from './file-key.js';
import { fixture, runNode } from './test-child.js';
import { removeTempDirs, tempDir } from './test-dirs.js';

// Child processes run the built packages (dist): `npx tsc --build` before running jest.
afterAll(() => removeTempDirs());

const isUuid = (name: string) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(name);

describe('a proxy crossing process boundaries', () => {
  test('parent -> child: the child rebuilds the store from the config and resolves synchronously', async () => {
    const storeDir = path.join(tempDir(), 'store');
    const name = `cross-${randomUUID()}`;
    const store = new Store(name, new FileConnector({ storeDir }));
    const value = {
      greeting: 'hello child',
      numbers: [1, 2, 3],
      bytes: Buffer.from('c0ffee', 'hex'),
    };
    const proxy = await store.proxy(value);
    const wire = Buffer.from(serialize({ proxy })).toString('base64');
    const child = await runNode(fixture('proxy-child.mjs'), ['consume', '-', name], {
      input: wire,
    });
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({
      isProxy: true,
      resolvedBefore: false,
      registeredBefore: false,
      greeting: 'hello child',
      numbers: [1, 2, 3],
      bytes: 'c0ffee',
      registeredAfter: true,
      connector: 'FileConnector',
    });
    await store.close();
  });

  test('child -> parent: a proxy made in the child resolves here with no store registered', async () => {
    registerConnector(FileConnector);
    const storeDir = path.join(tempDir(), 'store');
    const name = `reverse-${randomUUID()}`;
    const child = await runNode(fixture('proxy-child.mjs'), ['produce', storeDir, name]);
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    expect(getStore(name)).toBeUndefined();
    const { proxy } = deserialize(Buffer.from(child.stdout, 'base64')) as {
      proxy: { greeting: string; items: Map<string, number> };
    };
    expect(isProxy(proxy)).toBe(true);
    expect(isResolved(proxy)).toBe(false);
    expect(proxy.greeting).toMatch(/^hello from pid \d+$/);
    expect(proxy.greeting).not.toBe(`hello from pid ${process.pid}`);
    expect(proxy.items.get('a')).toBe(1);
    const rebuilt = getStore(name);
    expect(rebuilt?.connector).toBeInstanceOf(FileConnector);
    expect((rebuilt!.connector as FileConnector).storeDir).toBe(storeDir);
    unregisterStore(name);
    await rebuilt!.close();
  });
});

test('SIGKILL in the middle of a 200 MB put: get is null or the full object, the temp file is never data', async () => {
  const size = 200 * 1024 * 1024;
  const storeDir = path.join(tempDir(), 'store');
  fs.mkdirSync(storeDir);
  let tempAtKill: string | undefined;
  let sizeAtKill = -1;
  const watcher = fs.watch(storeDir);
  const child = await runNode(fixture('put-child.mjs'), [storeDir, String(size)], {
    onSpawn: (proc) => {
      watcher.on('change', (_event, name) => {
        const file = String(name);
        if (tempAtKill || !file.startsWith('.tmp-') || file === '.tmp-ready') return;
        const temp = path.join(storeDir, file);
        // Kill once some of the bytes have landed: the write is under way, not just opened.
        const landed = fs.statSync(temp, { throwIfNoEntry: false })?.size ?? 0;
        if (landed === 0) return;
        tempAtKill = file;
        proc.kill('SIGKILL');
        sizeAtKill = fs.statSync(temp, { throwIfNoEntry: false })?.size ?? -1;
      });
    },
  });
  watcher.close();
  expect(child.signal).toBe('SIGKILL');
  expect(tempAtKill).toBeDefined();
  // Measured after kill() returned: the write was really cut short. The rename to <uuid> only
  // follows the last byte, so the killed writer can no longer have published the object.
  expect(sizeAtKill).toBeGreaterThan(0);
  expect(sizeAtKill).toBeLessThan(size);
  // The temp name carries the object's uuid: that is the key a reader would ask for.
  const filename = tempAtKill!.slice('.tmp-'.length, '.tmp-'.length + 36);
  expect(isUuid(filename)).toBe(true);
  const key: FileKey = { filename };
  const reader = new FileConnector({ storeDir });
  expect(await reader.get(key)).toBeNull();
  expect(reader.getSync(key)).toBeNull();
  expect(await reader.exists(key)).toBe(false);
  // The partial bytes are still on disk, only under the temp name, which no key can name.
  const names = fs.readdirSync(storeDir);
  expect(names.filter((n) => n !== '.tmp-ready').sort()).toEqual([tempAtKill]);
  expect(await reader.get({ filename: tempAtKill! } as FileKey).catch((e: Error) => e.name)).toBe(
    'InvalidKeyError',
  );
  await reader.close({ clear: 'all' });
  // Only layout files were there (the temp file included), so the emptied directory went too.
  expect(fs.existsSync(storeDir)).toBe(false);
});

test('two processes putting and getting 1,000 objects each in one directory: all byte-identical', async () => {
  const storeDir = path.join(tempDir(), 'store');
  fs.mkdirSync(storeDir);
  const count = 1000;
  const children = ['1', '2'].map((id) =>
    runNode(fixture('concurrent-child.mjs'), [storeDir, id, String(count)], {
      // Both wait for this line, so their puts and gets overlap.
      input: 'go\n',
    }),
  );
  const results = await Promise.all(children);
  const reader = new FileConnector({ storeDir });
  const seen = new Set<string>();
  for (const child of results) {
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    const objects = JSON.parse(child.stdout) as { key: FileKey; sha256: string; size: number }[];
    expect(objects).toHaveLength(count);
    const data = await reader.getBatch(objects.map((o) => o.key));
    objects.forEach((o, i) => {
      seen.add(o.key.filename);
      expect(data[i]?.byteLength).toBe(o.size);
      expect(createHash('sha256').update(data[i]!).digest('hex')).toBe(o.sha256);
    });
  }
  expect(seen.size).toBe(2 * count);
  const names = fs.readdirSync(storeDir);
  expect(names.filter((n) => n.startsWith('.tmp-') && n !== '.tmp-ready')).toEqual([]);
  expect(names).toHaveLength(2 * count * 2 + 1);
  await reader.close({ clear: 'all' });
});
