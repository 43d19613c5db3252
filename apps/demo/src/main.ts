/**
 * The @proxy demo: no service to start. A FileConnector store in a temp directory stands in
 * for Redis/S3/an endpoint; every step prints what it shows.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileConnector } from '@proxy/connector-file';
import { deserialize, extract, isProxy, isResolved, resolve, Store, serialize } from '@proxy/core';
import { executorStep } from './executor-step.js';
import { futureStep } from './future-step.js';

const here = path.dirname(path.resolve(process.argv[1]!));

function step(title: string): void {
  console.log(`\n── ${title} ${'─'.repeat(Math.max(0, 70 - title.length))}`);
}

function kb(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`;
}

async function main(): Promise<void> {
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-demo-'));
  const store = new Store('demo', new FileConnector({ storeDir, clear: 'all' }), {
    metrics: true,
    register: true,
  });
  console.log(`@proxy demo — store "demo" on a FileConnector in ${storeDir}`);

  step('1. Proxy a large object');
  const dataset = {
    name: 'temperatures',
    readings: Float64Array.from({ length: 2_000_000 }, (_, i) => 15 + 10 * Math.sin(i / 1000)),
    mean(this: { readings: Float64Array }) {
      return this.readings.reduce((a, b) => a + b, 0) / this.readings.length;
    },
  };
  const { mean, ...data } = dataset;
  const proxy = await store.proxy(data);
  const wire = serialize(proxy);
  console.log(
    `object: ${kb(data.readings.byteLength)} of readings; the proxy on the wire: ${wire.byteLength} bytes`,
  );
  console.log(
    `isProxy=${isProxy(proxy)} isResolved=${isResolved(proxy)} (store.proxy keeps the target in the producer)`,
  );

  step('2. Lazy resolution on the consumer side');
  const received = deserialize(wire) as typeof data;
  console.log(
    `received a proxy: isResolved=${isResolved(received)}; logging it does not fetch it:`,
  );
  console.log(' ', received);
  const t0 = performance.now();
  const n = received.readings.length;
  console.log(
    `first use (readings.length = ${n}) fetched and deserialized in ${(performance.now() - t0).toFixed(1)} ms; isResolved=${isResolved(received)}`,
  );
  console.log(
    `it behaves like the object: mean = ${mean.call(received).toFixed(3)}, readings instanceof Float64Array = ${received.readings instanceof Float64Array}`,
  );

  step('3. Caching and metrics');
  const again = deserialize(wire) as typeof data;
  const t1 = performance.now();
  await resolve(again);
  console.log(
    `a second proxy to the same key resolves from the store's cache in ${(performance.now() - t1).toFixed(2)} ms`,
  );
  const times = store.metrics!.aggregateTimes();
  for (const name of [
    'store.put',
    'store.put.serialize',
    'store.get',
    'store.get.connector',
    'store.get.deserialize',
  ]) {
    const t = times[name];
    if (t) console.log(`  ${name.padEnd(24)} count=${t.count} avg=${t.avgTimeMs.toFixed(2)} ms`);
  }
  const counters = Object.values(store.metrics!.toJSON().keys).map((m) => m.counters);
  const hits = counters.reduce((a, c) => a + (c['store.get.cache_hits'] ?? 0), 0);
  const misses = counters.reduce((a, c) => a + (c['store.get.cache_misses'] ?? 0), 0);
  console.log(`  cache hits=${hits} misses=${misses}`);

  step('4. A proxy crosses into a child process');
  const child = spawnSync(process.execPath, [path.join(here, 'child.js')], {
    input: Buffer.from(wire).toString('base64'),
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`child failed: ${child.stderr}`);
  process.stdout.write(child.stdout);
  console.log(
    '(the child had no store registered: it rebuilt one from the config inside the proxy)',
  );

  await futureStep(store, here);
  await executorStep(store, here);

  step('Done');
  console.log(`extract(proxy) is the plain object again: ${extract(proxy) === data}`);
  await store.close();
  console.log(`store closed; ${storeDir} removed: ${!fs.existsSync(storeDir)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
