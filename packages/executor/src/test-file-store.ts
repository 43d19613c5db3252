import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileConnector } from '@proxy/connector-file';
import { Store } from '@proxy/core';

/** A store over a fresh temporary directory; `cleanup()` removes the directory. */
export function fileStore(name: string): {
  store: Store;
  dir: string;
  cleanup: () => void;
  files: () => string[];
} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-executor-'));
  const store = new Store(`${name}-${path.basename(dir)}`, new FileConnector({ storeDir: dir }));
  return {
    store,
    dir,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    files: () => fs.readdirSync(dir).filter((f) => !f.startsWith('.')),
  };
}
