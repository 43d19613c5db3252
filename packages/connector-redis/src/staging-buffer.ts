/**
 * A reusable buffer for joining a value's pieces before they go to Redis. ioredis copies
 * every argument into a fresh command buffer anyway; joining the pieces into a fresh buffer
 * first would allocate (and later collect) a second copy of every large value. One staging
 * buffer, reused between commands, costs a memcpy and no new memory.
 *
 * It is handed out to one command at a time, and only taken back once that command has
 * completed (ioredis may serialize a queued command later than the call).
 */
export class StagingBuffer {
  private buffer: Buffer | undefined;
  private busy = false;
  private idle: NodeJS.Timeout | undefined;

  constructor(
    /** Values larger than this are joined into fresh memory instead (the buffer never grows past it). */
    readonly maxBytes: number,
    /** The memory is dropped after this long without use, so a burst of large puts does not pin it. */
    readonly idleMs = 2000,
  ) {}

  /** Joins `parts` and runs `use` on the result; the staging memory is reused when free. */
  async with<T>(parts: readonly Uint8Array[], use: (joined: Buffer) => Promise<T>): Promise<T> {
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    if (this.busy || total > this.maxBytes) return use(Buffer.concat(parts, total));
    this.busy = true;
    clearTimeout(this.idle);
    try {
      if (!this.buffer || this.buffer.length < total) {
        this.buffer = Buffer.allocUnsafeSlow(
          Math.min(this.maxBytes, Math.max(total, 2 * (this.buffer?.length ?? 0))),
        );
      }
      let offset = 0;
      for (const part of parts) {
        this.buffer.set(part, offset);
        offset += part.byteLength;
      }
      return await use(this.buffer.subarray(0, total));
    } finally {
      this.busy = false;
      this.idle = setTimeout(() => this.release(), this.idleMs);
      this.idle.unref();
    }
  }

  /** Drops the staging memory (on close, or when idle). */
  release(): void {
    clearTimeout(this.idle);
    this.buffer = undefined;
  }

  /** Bytes currently held (for tests). */
  get heldBytes(): number {
    return this.buffer?.length ?? 0;
  }
}
