import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileConnector } from '@proxy/connector-file';
import { Store, serialize } from '@proxy/core';
import { comparePutGet, median, type Report, type Step } from '../report.js';

interface Case {
  label: string;
  bytes: number;
  runs: number;
}

const CASES: Case[] = [
  { label: '1 KB', bytes: 1024, runs: 2000 },
  { label: '1 MB', bytes: 1024 * 1024, runs: 200 },
  { label: '100 MB', bytes: 100 * 1024 * 1024, runs: 9 },
];

/** put+get through a Store over FileConnector against raw fs.promises.writeFile/readFile. */
export default async function file(report: Report): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-bench-file-'));
  const rawDir = path.join(base, 'raw');
  fs.mkdirSync(rawDir);
  const connector = new FileConnector({ storeDir: path.join(base, 'store'), clear: 'all' });
  // No cache: every get must read the file, as a consumer in another process would.
  const store = new Store('bench-file', connector, { cacheSize: 0 });
  let n = 0;
  try {
    for (const c of CASES) {
      const data = Buffer.alloc(c.bytes, 'proxystore');
      const raw: Step = async () => {
        const file = path.join(rawDir, `f${n++}`);
        await fs.promises.writeFile(file, data);
        await fs.promises.readFile(file);
        return () => fs.promises.unlink(file);
      };
      // For reference: the framing copy a Store without putParts would make (Store.put hands
      // raw bytes to FileConnector.putParts as [header, buffer] instead).
      const serializeOnly: Step = async () => {
        serialize(data);
        return async () => {};
      };
      const [serializeRuns] = await comparePutGet(report, {
        section: 'file',
        label: c.label,
        bytes: c.bytes,
        runs: c.runs,
        data,
        raw,
        store,
        connector,
        smallAllowanceUs: 50,
        connectorName: 'FileConnector',
        extra: [serializeOnly],
      });
      report.add({
        section: 'file',
        case: `serialize ${c.label} Buffer (core, for reference)`,
        ours: (c.bytes < 1024 * 1024 ? 1000 : 1) * median(serializeRuns!),
        unit: c.bytes < 1024 * 1024 ? 'us' : 'ms',
        note: 'the copy Store.put skips: it hands raw bytes to FileConnector.putParts',
      });
    }
  } finally {
    await store.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
}
