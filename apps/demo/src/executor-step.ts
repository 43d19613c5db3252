import path from 'node:path';
import { extract, isProxy, type Store } from '@proxy/core';
import {
  type Executor,
  ProcessPoolExecutor,
  ProxyIfLargerThan,
  ProxyNever,
  ProxyType,
  StoreExecutor,
  task,
  WorkerPoolExecutor,
} from '@proxy/executor';

function bar(label: string, done: number, total: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const line = `  ${label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
  if (process.stdout.isTTY) process.stdout.write(`\r${line}${done === total ? '\n' : ''}`);
  else if (done === total) console.log(line);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** The docs' StoreExecutor example, then a 10 MB input by value vs by proxy. */
export async function executorStep(store: Store, here: string): Promise<void> {
  console.log(`\n── 6. StoreExecutor: task inputs and results by reference ${'─'.repeat(14)}`);
  const tasks = path.join(here, 'tasks.js');
  const concat = task<(base: string, num: number) => string>(tasks, 'concat');
  {
    await using executor = new StoreExecutor(new ProcessPoolExecutor({ size: 1 }), store, {
      shouldProxy: ProxyType(String),
      closeStore: false,
    });
    const result = await executor.submit(concat, 'foobar', 42);
    console.log(
      `concat('foobar', 42) on a child process: isProxy(result)=${isProxy(result)}, value=${JSON.stringify(extract(result))}`,
    );
    console.log("('foobar' and the result went by proxy, 42 by value: ProxyType(String))");
  }

  const input = Buffer.alloc(10 * 1024 * 1024, 7);
  const length = task<(data: Uint8Array) => number>(tasks, 'byteLength');
  const runs = 10;
  const rows: [string, number, number][] = [];
  const pools: [string, () => Executor][] = [
    ['worker threads', () => new WorkerPoolExecutor({ maxThreads: 2 })],
    ['child processes', () => new ProcessPoolExecutor({ size: 2 })],
  ];
  for (const [name, make] of pools) {
    const times: Record<string, number[]> = { value: [], proxy: [] };
    for (const [mode, policy] of [
      ['value', ProxyNever],
      ['proxy', ProxyIfLargerThan(1024 * 1024)],
    ] as const) {
      await using executor = new StoreExecutor(make(), store, {
        shouldProxy: policy,
        closeStore: false,
      });
      await executor.submit(length, Buffer.alloc(16));
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const n = await executor.submit(length, input);
        times[mode]!.push(performance.now() - started);
        if (Number(n) !== input.byteLength) throw new Error(`task saw ${n} bytes`);
        bar(`${name}, by ${mode}`, i + 1, runs);
      }
    }
    rows.push([name, median(times.value!), median(times.proxy!)]);
  }
  console.log('\n  10 MB input, median of 10 round trips');
  console.log(`  ${'executor'.padEnd(18)} ${'by value'.padStart(10)} ${'by proxy'.padStart(10)}`);
  for (const [name, byValue, byProxy] of rows) {
    console.log(
      `  ${name.padEnd(18)} ${`${byValue.toFixed(1)} ms`.padStart(10)} ${`${byProxy.toFixed(1)} ms`.padStart(10)}`,
    );
  }
  console.log(
    '  (on one machine both move the bytes once; across machines — BullMQ — proxying wins >10x: see pnpm bench)',
  );
}
