import { Command } from 'ioredis';

const CRLF = '\r\n';

/**
 * `SET key <value> [rest…]` where the value arrives in pieces (the store's `[header, payload]`).
 *
 * ioredis frames a command holding a Buffer by copying every argument into one fresh buffer.
 * Joining the pieces first would be a second copy of the whole value; this command writes the
 * Redis protocol frame straight from the pieces instead, so a put costs exactly what
 * `redis.set(key, buffer)` costs: one allocation and one copy.
 *
 * `args` keeps the key (and `rest`) so ioredis computes the Cluster slot and resends the
 * command after a reconnect or a MOVED reply as usual; each send frames it again from the
 * pieces, which stay untouched while the put is pending. (An injected client with an ioredis
 * `keyPrefix` is refused by the connector, so none is applied here.)
 */
export class SetPartsCommand extends Command {
  private readonly parts: readonly Uint8Array[];

  constructor(key: string, parts: readonly Uint8Array[], rest: readonly string[]) {
    super('set', [key, ...rest]);
    this.parts = parts;
  }

  override toWritable(_socket: object): Buffer {
    const [key, ...rest] = this.args as (string | Buffer)[];
    let size = 0;
    for (const part of this.parts) size += part.byteLength;
    const head = `*${this.args.length + 2}${CRLF}$3${CRLF}SET${CRLF}${bulkHeader(key!)}${key}${CRLF}$${size}${CRLF}`;
    let tail = CRLF;
    for (const arg of rest) tail += `${bulkHeader(arg)}${arg}${CRLF}`;
    const headBytes = Buffer.byteLength(head);
    const out = Buffer.allocUnsafe(headBytes + size + Buffer.byteLength(tail));
    let offset = out.write(head, 0, 'utf8');
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.byteLength;
    }
    out.write(tail, offset, 'utf8');
    return out;
  }
}

function bulkHeader(arg: string | Buffer): string {
  return `$${Buffer.byteLength(arg)}${CRLF}`;
}
