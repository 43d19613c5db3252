import fs from 'node:fs';
import path from 'node:path';
import type { Connector, Store } from '@proxy/core';

/** One measured comparison: ours against the raw client (or a floor) in the same run. */
export interface Row {
  /** Section, e.g. 'file', 'redis', 'core.serialize'. */
  section: string;
  /** What was measured, e.g. 'put+get 1 MB'. */
  case: string;
  ours: number;
  /** The raw client / baseline measured in the same run (omit when there is none). */
  raw?: number;
  unit: 'ms' | 'us' | 'ns' | 'GB/s' | 'MB/s' | 'req/s';
  /** The target the issue names, as text, e.g. '<= 1.10x raw' or '+50 us'. */
  target?: string;
  /** Whether the target was met (computed by the section). */
  met?: boolean;
  note?: string;
}

export class Report {
  readonly rows: Row[] = [];

  add(row: Row): void {
    this.rows.push(row);
    const ratio = row.raw
      ? ` (${(row.ours / row.raw).toFixed(2)}x raw ${fmt(row.raw)} ${row.unit})`
      : '';
    const target = row.target
      ? ` target ${row.target}: ${row.met === undefined ? '?' : row.met ? 'met' : 'MISSED'}`
      : '';
    const note = row.note ? ` (${row.note})` : '';
    console.log(
      `  ${row.section} | ${row.case}: ${fmt(row.ours)} ${row.unit}${ratio}${target}${note}`,
    );
  }

  print(): void {
    const header = ['section', 'case', 'ours', 'raw', 'ratio', 'unit', 'target', 'met'];
    const lines = this.rows.map((r) => [
      r.section,
      r.case,
      fmt(r.ours),
      r.raw === undefined ? '' : fmt(r.raw),
      r.raw ? (r.ours / r.raw).toFixed(2) : '',
      r.unit,
      r.target ?? '',
      r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
    console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}`);
    for (const l of lines) console.log(line(l));
  }

  write(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const meta = {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      date: new Date().toISOString(),
    };
    fs.writeFileSync(file, `${JSON.stringify({ ...meta, rows: this.rows }, null, 2)}\n`);
  }
}

export function fmt(n: number): string {
  if (n === 0) return '0';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median wall time in ms of `fn` over `runs` runs, after `warmup` unmeasured runs. */
export async function timeMs(fn: () => unknown, runs: number, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

/** A progress line on stderr for long benchmarks. */
export function progress(label: string, done: number, total: number): void {
  if (!process.stderr.isTTY) return;
  const width = 24;
  const filled = Math.round((done / total) * width);
  process.stderr.write(
    `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${done === total ? '\n' : ''}`,
  );
}

export type Section = (report: Report) => Promise<void>;

/** One contender of `timeInterleaved`: does the timed work, returns its untimed cleanup. */
export type Step = () => Promise<(() => Promise<unknown>) | undefined>;

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Every step's wall times in ms over `runs` rounds (after `warmup` rounds), in round order, so
 * `samples[a][i]` and `samples[b][i]` were taken next to each other. Steps alternate inside a
 * round, in an order that rotates every round, so load drift and the garbage one step leaves
 * behind hit all of them alike. With `collect` and `--expose-gc` (as `pnpm bench` runs) a full
 * collection runs before each timed step so none pays for another's garbage: use it for large
 * values, where one step's garbage is a big share of the next step's time (for tiny ones a
 * collection before each step would only measure cold caches). Cleanups are not timed.
 */
export async function sampleInterleaved(
  label: string,
  steps: Step[],
  runs: number,
  warmup = Math.min(5, runs),
  collect = false,
): Promise<number[][]> {
  const times = steps.map(() => [] as number[]);
  for (let round = 0; round < warmup + runs; round++) {
    for (let j = 0; j < steps.length; j++) {
      const s = (round + j) % steps.length;
      if (collect) gc?.();
      const start = performance.now();
      const cleanup = await steps[s]!();
      const elapsed = performance.now() - start;
      if (cleanup) await cleanup();
      if (round >= warmup) times[s]!.push(elapsed);
    }
    if (round >= warmup) progress(label, round - warmup + 1, runs);
  }
  return times;
}

/** Median ms of each step of `sampleInterleaved`. */
export async function timeInterleaved(
  label: string,
  steps: Step[],
  runs: number,
  warmup = Math.min(5, runs),
  collect = false,
): Promise<number[]> {
  return (await sampleInterleaved(label, steps, runs, warmup, collect)).map(median);
}

/**
 * The median over rounds of `ours[i] - base[i]`: what `ours` adds to `base` when both ran side
 * by side. Tiny round trips on an idle VM are bimodal (a wake-up from an idle CPU costs more
 * than the work), and the median of each contender alone then jumps between the modes with
 * small shifts in their mix; the paired difference does not.
 */
export function pairedDelta(ours: number[], base: number[]): number {
  return median(ours.map((t, i) => t - base[i]!));
}

export interface PutGetTimes {
  section: string;
  /** Size label, e.g. '1 MB'. */
  label: string;
  bytes: number;
  rawMs: number;
  storeMs: number;
  connectorMs: number;
  /** The allowance over raw for values under 1 MB, in µs (≥ 1 MB: within 1.10× of raw). */
  smallAllowanceUs: number;
  /** Median paired difference store − raw in ms (see `pairedDelta`); judges the small allowance. */
  addedMs?: number;
  connectorName: string;
}

/** The rows every put+get comparison writes: through the Store (against the target) and through the connector alone. */
export function addPutGetRows(report: Report, t: PutGetTimes): void {
  const small = t.bytes < 1024 * 1024;
  const toUnit = (ms: number) => (small ? ms * 1000 : ms);
  const unit = small ? 'us' : 'ms';
  const added = t.addedMs ?? t.storeMs - t.rawMs;
  report.add({
    section: t.section,
    case: `put+get ${t.label} (Store)`,
    ours: toUnit(t.storeMs),
    raw: toUnit(t.rawMs),
    unit,
    target: small ? `<= raw + ${t.smallAllowanceUs} us` : '<= 1.10x raw',
    met: small ? added <= t.smallAllowanceUs / 1000 : t.storeMs <= 1.1 * t.rawMs,
    ...(small && t.addedMs !== undefined
      ? {
          note: `added latency (median of per-round store - raw): ${(t.addedMs * 1000).toFixed(1)} us`,
        }
      : {}),
  });
  report.add({
    section: t.section,
    case: `put+get ${t.label} (connector only)`,
    ours: toUnit(t.connectorMs),
    raw: toUnit(t.rawMs),
    unit,
    note: `${t.connectorName}.put/get without serialization`,
  });
}

export interface PutGetComparison {
  section: string;
  label: string;
  bytes: number;
  runs: number;
  /** The value every contender puts and gets back. */
  data: Uint8Array;
  /** The raw client's put+get (its cleanup untimed). */
  raw: Step;
  store: Store;
  connector: Connector;
  smallAllowanceUs: number;
  connectorName: string;
  /** More contenders timed in the same rounds; their samples are returned. */
  extra?: Step[];
}

/**
 * put+get of `data` through the Store, through the connector alone and through the raw
 * client, interleaved in the same rounds (garbage collected before each step from 1 MB up),
 * written as the rows of `addPutGetRows`. Returns the samples of the `extra` steps.
 */
export async function comparePutGet(report: Report, c: PutGetComparison): Promise<number[][]> {
  const { store, connector, data } = c;
  const viaStore: Step = async () => {
    const key = await store.put(data);
    await store.get(key);
    return () => store.evict(key);
  };
  const viaConnector: Step = async () => {
    const key = await connector.put(data);
    await connector.get(key);
    return () => connector.evict(key);
  };
  const [rawRuns, storeRuns, connectorRuns, ...extra] = await sampleInterleaved(
    `${c.section} ${c.label}`,
    [c.raw, viaStore, viaConnector, ...(c.extra ?? [])],
    c.runs,
    undefined,
    c.bytes >= 1024 * 1024,
  );
  addPutGetRows(report, {
    section: c.section,
    label: c.label,
    bytes: c.bytes,
    rawMs: median(rawRuns!),
    storeMs: median(storeRuns!),
    connectorMs: median(connectorRuns!),
    addedMs: pairedDelta(storeRuns!, rawRuns!),
    smallAllowanceUs: c.smallAllowanceUs,
    connectorName: c.connectorName,
  });
  return extra;
}
