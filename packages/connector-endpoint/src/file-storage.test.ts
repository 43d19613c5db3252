import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConnectorError } from '@proxy/core';
import { EndpointConnector } from './endpoint-connector.js';
import { EndpointServer } from './endpoint-server.js';
import { FileStorage } from './file-storage.js';

describe('FileStorage', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-file-storage-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** A data dir that has been replaced by a plain file: every lookup in it fails with ENOTDIR. */
  async function brokenStorage(): Promise<FileStorage> {
    const dir = path.join(root, 'data');
    const storage = await FileStorage.open(dir, 1000);
    fs.rmSync(dir, { recursive: true });
    fs.writeFileSync(dir, 'not a directory');
    return storage;
  }

  test('a missing object is absent; a broken data dir is an error, not "absent"', async () => {
    const storage = await FileStorage.open(path.join(root, 'data'), 1000);
    expect(await storage.has('nothing-here')).toBe(false);
    const broken = await brokenStorage();
    await expect(broken.has('x')).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  test('through the server: a put renames its temp file, then syncs the data directory', async () => {
    const dir = path.join(root, 'data');
    const server = new EndpointServer({
      uuid: randomUUID(),
      storage: await FileStorage.open(dir, 1000),
    });
    const address = await server.listen(0);
    const events: string[] = [];
    const realRename = fsp.rename;
    const realOpen = fsp.open;
    const rename = jest.spyOn(fsp, 'rename').mockImplementation(async (from, to) => {
      events.push(`rename ${path.basename(String(to))}`);
      await realRename(from, to);
    });
    const open = jest.spyOn(fsp, 'open').mockImplementation(async (file, flags, mode) => {
      const handle = await realOpen(file, flags, mode);
      if (path.resolve(String(file)) === path.resolve(dir)) {
        const sync = handle.sync.bind(handle);
        handle.sync = async () => {
          events.push('sync dir');
          await sync();
        };
      }
      return handle;
    });
    try {
      await using c = new EndpointConnector({ endpoints: [address] });
      const key = await c.put(Buffer.from('durable'));
      expect(events).toEqual([`rename ${key.objectId}`, 'sync dir']);
    } finally {
      rename.mockRestore();
      open.mockRestore();
      await server.close();
    }
  });

  test('through the server: exists and wait answer 500, and the connector raises ConnectorError', async () => {
    const server = new EndpointServer({ uuid: randomUUID(), storage: await brokenStorage() });
    const address = await server.listen(0);
    try {
      await using c = new EndpointConnector({ endpoints: [address] });
      const key = await c.newKey();
      const exists = await c.exists(key).catch((e: unknown) => e);
      expect(exists).toBeInstanceOf(ConnectorError);
      expect((exists as Error).message).toMatch(/HTTP 500.*ENOTDIR/);
      await expect(c.waitFor(key, { timeoutMs: 1000 })).rejects.toThrow(/HTTP 500.*ENOTDIR/);
    } finally {
      await server.close();
    }
  });
});
