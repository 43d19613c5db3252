/** Timing statistics of one event (ProxyStore's TimeStats). */
export interface TimeStats {
  count: number;
  avgTimeMs: number;
  minTimeMs: number;
  maxTimeMs: number;
  lastTimeMs: number;
  lastTimestamp: number;
}

export interface Metrics {
  attributes: Record<string, unknown>;
  counters: Record<string, number>;
  times: Record<string, TimeStats>;
}

function emptyMetrics(): Metrics {
  return { attributes: {}, counters: {}, times: {} };
}

/**
 * Per-key metrics of a store, with ProxyStore's event names (`store.put`,
 * `store.get.connector`, `store.get.cache_hits`, …). Keys are the canonical key strings;
 * batches are recorded under the joined keys.
 */
export class StoreMetrics {
  private readonly byKey = new Map<string, Metrics>();

  private entry(key: string): Metrics {
    let m = this.byKey.get(key);
    if (!m) {
      m = emptyMetrics();
      this.byKey.set(key, m);
    }
    return m;
  }

  addAttribute(name: string, key: string, value: unknown): void {
    this.entry(key).attributes[name] = value;
  }

  addCounter(name: string, key: string, by = 1): void {
    const counters = this.entry(key).counters;
    counters[name] = (counters[name] ?? 0) + by;
  }

  addTime(name: string, key: string, ms: number): void {
    const times = this.entry(key).times;
    const t = times[name];
    if (!t) {
      times[name] = {
        count: 1,
        avgTimeMs: ms,
        minTimeMs: ms,
        maxTimeMs: ms,
        lastTimeMs: ms,
        lastTimestamp: Date.now(),
      };
      return;
    }
    t.avgTimeMs = (t.avgTimeMs * t.count + ms) / (t.count + 1);
    t.count++;
    t.minTimeMs = Math.min(t.minTimeMs, ms);
    t.maxTimeMs = Math.max(t.maxTimeMs, ms);
    t.lastTimeMs = ms;
    t.lastTimestamp = Date.now();
  }

  /** A copy of the metrics recorded for one key, or undefined. */
  getMetrics(key: string): Metrics | undefined {
    const m = this.byKey.get(key);
    return m && structuredClone(m);
  }

  /** Times of every event summed over all keys. */
  aggregateTimes(): Record<string, TimeStats> {
    const out: Record<string, TimeStats> = {};
    for (const m of this.byKey.values()) {
      for (const [name, t] of Object.entries(m.times)) {
        const a = out[name];
        if (!a) {
          out[name] = { ...t };
          continue;
        }
        const count = a.count + t.count;
        a.avgTimeMs = (a.avgTimeMs * a.count + t.avgTimeMs * t.count) / count;
        a.count = count;
        a.minTimeMs = Math.min(a.minTimeMs, t.minTimeMs);
        a.maxTimeMs = Math.max(a.maxTimeMs, t.maxTimeMs);
        if (t.lastTimestamp >= a.lastTimestamp) {
          a.lastTimeMs = t.lastTimeMs;
          a.lastTimestamp = t.lastTimestamp;
        }
      }
    }
    return out;
  }

  toJSON(): { keys: Record<string, Metrics>; aggregate: Record<string, TimeStats> } {
    return {
      keys: Object.fromEntries(structuredClone([...this.byKey])),
      aggregate: this.aggregateTimes(),
    };
  }
}

/** Milliseconds since `start` (a `performance.now()` reading). */
export function elapsedMs(start: number): number {
  return performance.now() - start;
}
