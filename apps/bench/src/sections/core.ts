import { spawnSync } from 'node:child_process';
import path from 'node:path';
import v8 from 'node:v8';
import {
  deserialize,
  getFactory,
  LocalConnector,
  resolveSync,
  Store,
  type StoreFactory,
  serialize,
  serializeParts,
} from '@proxy/core';
import { type Report, timeMs } from '../report.js';

/** ns per operation of one access case, measured in a fresh process (see access-case.ts). */
function accessCase(name: string): number {
  const script = path.join(path.dirname(path.resolve(process.argv[1]!)), 'access-case.js');
  const out = spawnSync(process.execPath, [script, name], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`access case "${name}" failed: ${out.stderr}`);
  return (JSON.parse(out.stdout) as { ns: number }).ns;
}

async function accessCosts(report: Report): Promise<void> {
  const ns = (name: string) => accessCase(name);
  const plain = ns('plain get');
  const floor = ns('get-trap floor');
  const ours = ns('proxy get');
  report.add({
    section: 'core.access',
    case: 'property get: plain object',
    ours: plain,
    unit: 'ns',
  });
  report.add({
    section: 'core.access',
    case: 'property get: empty pass-through Proxy',
    ours: ns('empty Proxy get'),
    unit: 'ns',
  });
  report.add({
    section: 'core.access',
    case: 'property get: resolved proxy vs minimal get-trap Proxy (trap floor)',
    ours,
    raw: floor,
    unit: 'ns',
    target: '<= 1.3x trap floor',
    met: ours <= 1.3 * floor,
  });
  const extracted = ns('extract get');
  report.add({
    section: 'core.access',
    case: 'property get: extract(p) (the target itself) vs plain object',
    ours: extracted,
    raw: plain,
    unit: 'ns',
    target: '1x',
    met: extracted <= 1.3 * plain + 0.5,
  });
  const plainCall = ns('plain method');
  const call = ns('proxy method');
  report.add({
    section: 'core.access',
    case: 'method call (#private) on resolved proxy vs plain',
    ours: call,
    raw: plainCall,
    unit: 'ns',
    target: '<= 25 ns',
    met: call <= 25,
  });
  const emptyCall = ns('empty Proxy method (plain class)');
  report.add({
    section: 'core.access',
    case: 'method call (class without #private) on resolved proxy vs empty pass-through Proxy',
    ours: ns('proxy method (plain class)'),
    raw: emptyCall,
    unit: 'ns',
    note: 'an empty pass-through Proxy cannot call #private methods at all (the brand check fails)',
  });
  report.add({
    section: 'core.access',
    case: 'method call, traps already polymorphic (many target kinds)',
    ours: ns('proxy method (polymorphic traps)'),
    unit: 'ns',
  });
  report.add({
    section: 'core.access',
    case: 'getter over #private on resolved proxy',
    ours: ns('proxy getter over #private'),
    unit: 'ns',
  });
}

function gbPerS(bytes: number, ms: number): number {
  return bytes / 1e9 / (ms / 1000);
}

async function serializationThroughput(report: Report): Promise<void> {
  const buf = Buffer.alloc(1024 * 1024, 3);
  const bufMs = await timeMs(() => serialize(buf), 50, 10);
  report.add({
    section: 'core.serialize',
    case: 'serialize 1 MB Buffer into one contiguous BS-framed buffer (one copy)',
    ours: gbPerS(buf.length, bufMs),
    unit: 'GB/s',
    note: 'a copy into fresh memory by definition; Store.put hands raw bytes on with serializeParts (next row)',
  });
  const partsMs = await timeMs(() => serializeParts(buf), 50, 10);
  report.add({
    section: 'core.serialize',
    case: 'serializeParts 1 MB Buffer (what Store.put uses with putParts connectors)',
    ours: gbPerS(buf.length, partsMs),
    unit: 'GB/s',
    target: '>= 5 GB/s, no copy',
    met: gbPerS(buf.length, partsMs) >= 5 && serializeParts(buf)[1] === buf,
  });
  const framed = serialize(buf);
  const deserMs = await timeMs(() => deserialize(framed), 50, 10);
  report.add({
    section: 'core.serialize',
    case: 'deserialize 1 MB Buffer (view, no copy)',
    ours: gbPerS(buf.length, deserMs),
    unit: 'GB/s',
  });
  const bufRoundTrip = await timeMs(() => deserialize(serialize(buf)), 50, 10);
  const bufV8 = await timeMs(() => v8.deserialize(v8.serialize(buf)), 50, 10);
  const bufJson = await timeMs(
    () => Buffer.from(JSON.parse(JSON.stringify({ b64: buf.toString('base64') })).b64, 'base64'),
    20,
    3,
  );
  report.add({
    section: 'core.serialize',
    case: '1 MB Buffer round trip vs v8.serialize',
    ours: bufRoundTrip,
    raw: bufV8,
    unit: 'ms',
  });
  report.add({
    section: 'core.serialize',
    case: '1 MB Buffer round trip vs JSON (base64 string)',
    ours: bufRoundTrip,
    raw: bufJson,
    unit: 'ms',
  });

  const f64 = new Float64Array(10 * 1024 * 128).map((_, i) => i * 0.5);
  const roundTrip = (enc: (v: unknown) => Uint8Array | string, dec: (b: never) => unknown) => () =>
    dec(enc(f64) as never);
  const ours = await timeMs(roundTrip(serialize, deserialize as never), 10);
  const v8ms = await timeMs(roundTrip(v8.serialize, v8.deserialize as never), 10);
  const jsonMs = await timeMs(() => JSON.parse(JSON.stringify(Array.from(f64))), 3, 1);
  report.add({
    section: 'core.serialize',
    case: '10 MB Float64Array round trip vs v8.serialize',
    ours,
    raw: v8ms,
    unit: 'ms',
  });
  report.add({
    section: 'core.serialize',
    case: '10 MB Float64Array round trip: JSON (reference)',
    ours: jsonMs,
    unit: 'ms',
  });

  const small = Array.from({ length: 100_000 }, (_, i) => ({
    id: i,
    name: `item-${i}`,
    tags: ['a', 'b'],
    score: i / 7,
  }));
  const oursSmall = await timeMs(() => deserialize(serialize(small)), 5, 1);
  const v8Small = await timeMs(() => v8.deserialize(v8.serialize(small)), 5, 1);
  const jsonSmall = await timeMs(() => JSON.parse(JSON.stringify(small)), 5, 1);
  report.add({
    section: 'core.serialize',
    case: '100k small objects round trip vs v8.serialize',
    ours: oursSmall,
    raw: v8Small,
    unit: 'ms',
  });
  report.add({
    section: 'core.serialize',
    case: '100k small objects round trip vs JSON',
    ours: oursSmall,
    raw: jsonSmall,
    unit: 'ms',
  });
}

const LIFECYCLE_SIZES = [
  { label: '1 KB', bytes: 1024, runs: 200 },
  { label: '1 MB', bytes: 1024 * 1024, runs: 50 },
  { label: '100 MB', bytes: 100 * 1024 * 1024, runs: 5 },
];

/** A Buffer (framed as raw bytes, a view on the way out) and a Float64Array (CBOR, decoded). */
const LIFECYCLE_VALUES: [string, (bytes: number) => Buffer | Float64Array][] = [
  ['Buffer', (bytes) => Buffer.alloc(bytes, 1)],
  ['Float64Array', (bytes) => new Float64Array(bytes / 8).fill(0.5)],
];

async function proxyLifecycle(report: Report): Promise<void> {
  const store = new Store('bench-core', new LocalConnector(), { cacheSize: 0 });
  for (const [kind, make] of LIFECYCLE_VALUES) {
    for (const { label, bytes, runs } of LIFECYCLE_SIZES) {
      const name = `${label} ${kind}`;
      const value = make(bytes);
      const made: unknown[] = [];
      const create = await timeMs(async () => made.push(await store.proxy(value)), runs, 1);
      for (const proxy of made) await store.evict((getFactory(proxy) as StoreFactory).key);
      const key = await store.put(value);
      const first = await timeMs(
        () => store.proxyFromKey<Buffer | Float64Array>(key).length,
        runs,
        1,
      );
      const p = store.proxyFromKey<Buffer | Float64Array>(key);
      resolveSync(p);
      const cached = await timeMs(() => p.length, runs, 1);
      report.add({
        section: 'core.proxy',
        case: `store.proxy (creation) ${name}`,
        ours: create,
        unit: 'ms',
      });
      report.add({
        section: 'core.proxy',
        case: `first resolution ${name} (LocalConnector)`,
        ours: first,
        unit: 'ms',
      });
      report.add({
        section: 'core.proxy',
        case: `cached access ${name}`,
        ours: cached * 1000,
        unit: 'us',
      });
      await store.evict(key);
    }
  }
  await store.close();
}

export default async function core(report: Report): Promise<void> {
  await accessCosts(report);
  await serializationThroughput(report);
  await proxyLifecycle(report);
}
