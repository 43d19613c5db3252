/** A least-recently-used cache bounded by entry count and, optionally, by bytes. */
export class LRUCache<V> {
  private readonly entries = new Map<string, { value: V; size: number }>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly maxSize: number,
    readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {
    if (!Number.isInteger(maxSize) || maxSize < 0)
      throw new RangeError(`cacheSize must be an integer >= 0, got ${maxSize}`);
    if (!(maxBytes >= 0)) throw new RangeError(`cacheBytes must be >= 0, got ${maxBytes}`);
  }

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, size = 0): void {
    if (this.maxSize === 0 || size > this.maxBytes) return;
    this.delete(key);
    this.entries.set(key, { value, size });
    this.bytes += size;
    while (this.entries.size > this.maxSize || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next().value as string;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry) {
      this.bytes -= entry.size;
      this.entries.delete(key);
    }
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
