/**
 * One access-cost measurement in a fresh process (clean JIT state), so every row measures a
 * call site the way a hot loop in an application sees it. Prints ns per operation as JSON.
 * Usage: node dist/access-case.js <case>
 */
import { createProxy, extract, LambdaFactory, resolveSync } from '@proxy/core';

class Counter {
  #n = 1;
  get n(): number {
    return this.#n;
  }
  inc(by: number): number {
    return this.#n + by;
  }
}

/** A class without private fields: its methods also work through an empty pass-through Proxy. */
class PlainCounter {
  n = 1;
  inc(by: number): number {
    return this.n + by;
  }
}

type Loop = (body: (i: number) => number, n: number) => number;

function nsPerOp(body: (i: number) => number, n = 5_000_000): number {
  const loop = new Function(
    'body',
    'n',
    'let s = 0; for (let i = 0; i < n; i++) s += body(i); return s;',
  ) as Loop;
  const rounds: number[] = [];
  let sink = 0;
  for (let r = 0; r < 9; r++) {
    const start = process.hrtime.bigint();
    sink += loop(body, n);
    rounds.push(Number(process.hrtime.bigint() - start) / n);
  }
  if (sink === Number.MIN_VALUE) console.error(sink);
  rounds.sort((a, b) => a - b);
  return rounds[4]!;
}

function resolved<T>(make: () => T): T {
  const p = createProxy(new LambdaFactory(make)) as T;
  resolveSync(p);
  return p;
}

/** Makes the proxy traps polymorphic first, as in an app proxying many kinds of objects. */
function warmManyShapes(): void {
  const shapes: (() => object)[] = [
    () => ({ a: 1 }),
    () => ({ b: 1, c: 2 }),
    () => new Map(),
    () => [1, 2],
    () => new Date(),
    () => ({ x: 'y' }),
  ];
  for (const make of shapes) {
    const p = resolved(make) as Record<string, unknown>;
    for (let i = 0; i < 20_000; i++) {
      void p.a;
      void p.size;
      void p.length;
      void p.x;
    }
  }
}

const cases: Record<string, () => number> = {
  'plain get': () => {
    const t = { a: 1, b: 2 };
    return nsPerOp(() => t.a);
  },
  'empty Proxy get': () => {
    const p = new Proxy({ a: 1, b: 2 }, {});
    return nsPerOp(() => p.a);
  },
  'get-trap floor': () => {
    const p = new Proxy({ a: 1, b: 2 }, { get: (t, k) => t[k as 'a'] });
    return nsPerOp(() => p.a);
  },
  'proxy get': () => {
    const p = resolved(() => ({ a: 1, b: 2 }));
    return nsPerOp(() => p.a);
  },
  'extract get': () => {
    const target = { a: 1, b: 2 };
    const p = resolved(() => target);
    const e = extract(p);
    if (e !== target) throw new Error('extract must return the target itself');
    return nsPerOp(() => e.a);
  },
  'plain method': () => {
    const c = new Counter();
    return nsPerOp((i) => c.inc(i & 1));
  },
  'proxy method': () => {
    const p = resolved(() => new Counter());
    return nsPerOp((i) => p.inc(i & 1));
  },
  'empty Proxy method (plain class)': () => {
    const p = new Proxy(new PlainCounter(), {});
    return nsPerOp((i) => p.inc(i & 1));
  },
  'proxy method (plain class)': () => {
    const p = resolved(() => new PlainCounter());
    return nsPerOp((i) => p.inc(i & 1));
  },
  'proxy method (polymorphic traps)': () => {
    warmManyShapes();
    const p = resolved(() => new Counter());
    return nsPerOp((i) => p.inc(i & 1));
  },
  'proxy getter over #private': () => {
    const p = resolved(() => new Counter());
    return nsPerOp(() => p.n);
  },
};

const name = process.argv[2] ?? '';
const run = cases[name];
if (!run) {
  console.error(`unknown case "${name}"; known: ${Object.keys(cases).join(', ')}`);
  process.exit(2);
}
console.log(JSON.stringify({ case: name, ns: run() }));
