import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileConnector } from '@proxy/connector-file';
import { Store } from '@proxy/core';
import { crossProcessTests } from './test-cross-process.js';

describe('Future across processes with FileConnector', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  crossProcessTests(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-future-file-'));
    dirs.push(dir);
    return new Store('future-file', new FileConnector({ storeDir: dir }));
  });
});
