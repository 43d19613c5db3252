import path from 'node:path';
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from 'node:worker_threads';
import type { ConnectorConfig, ConnectorKey } from './connector.js';
import { ConnectorError, formatKey, ProxyResolveTimeoutError } from './errors.js';

// The bridge worker: rebuilds connectors from their configs (resolving packages from the
// application, like the main thread does), fetches, and transfers the bytes back. Written
// as a CommonJS string so it runs the same from sources under jest and from dist.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { createRequire } = require('node:module');
const { port, signal, roots } = workerData;
const flag = new Int32Array(signal);
const connectors = new Map();
function load(mod) {
  let last;
  for (const root of roots) {
    try { return createRequire(root)(mod); } catch (e) { last = e; if (e.code !== 'MODULE_NOT_FOUND') throw e; }
  }
  throw last;
}
function connectorFor(config) {
  const id = JSON.stringify(config);
  let c = connectors.get(id);
  if (!c) {
    const cls = load(config.module)[config.type];
    if (!cls || typeof cls.fromConfig !== 'function') throw new Error('package ' + config.module + ' has no connector export ' + config.type);
    c = cls.fromConfig(config.options);
    connectors.set(id, c);
  }
  return c;
}
async function waitThenGet(c, key, timeoutMs) {
  if (typeof c.waitFor === 'function') {
    try { await c.waitFor(key, { timeoutMs }); } catch (e) { if (e && e.code === 'PROXY_FUTURE_TIMEOUT') return null; throw e; }
    return c.get(key);
  }
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    const data = await c.get(key);
    if (data || Date.now() >= deadline) return data;
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 100);
  }
}
// Where the elements of a top-level typed array start in CBOR-framed bytes ('CB\\n', a
// typed-array tag 64-87, a byte-string head), else -1.
function elementsOffset(d) {
  if (d.length < 8 || d[0] !== 0x43 || d[1] !== 0x42 || d[2] !== 0x0a || d[3] !== 0xd8) return -1;
  if (d[4] < 64 || d[4] > 87) return -1;
  const info = d[5] - 0x40;
  if (info < 0 || info > 27) return -1;
  return 6 + (info < 24 ? 0 : 1 << (info - 24));
}
// A view into memory the connector does not own (ioredis' parser pool) is copied into memory
// of its own to be transferred; it is not zero-filled first, as every byte is overwritten.
// The copy starts where a top-level typed array's elements land on an 8-byte boundary, so the
// decoder on the other side can view them instead of copying them a second time.
function ownCopy(data) {
  const at = elementsOffset(data);
  const shift = at < 0 ? 0 : (8 - (at & 7)) & 7;
  const mem = Buffer.allocUnsafeSlow(data.byteLength + shift);
  mem.set(data, shift);
  return mem.subarray(shift);
}
// The type of what a connector handed back instead of bytes, for the error message.
function typeName(v) {
  if (typeof v !== 'object') return typeof v;
  return (v.constructor && v.constructor.name) || 'Object';
}
port.on('message', async ({ id, config, key, waitMs }) => {
  try {
    const c = connectorFor(config);
    let data = waitMs === undefined ? await c.get(key) : await waitThenGet(c, key, waitMs);
    if (data === undefined) data = null;
    // Anything else (an ArrayBuffer, a DataView, a Uint16Array, a string…) would be copied or
    // viewed by element, not by byte, and hand back wrong bytes: refuse it.
    if (data !== null && !(data instanceof Uint8Array)) {
      throw new TypeError(config.type + '.get returned a value of type ' + typeName(data) + ', not bytes: connectors must return a Uint8Array (a Buffer is one) or null');
    }
    let out = data;
    const transfer = [];
    if (data) {
      const owns = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && !(data.buffer instanceof SharedArrayBuffer);
      if (!owns) out = ownCopy(data);
      transfer.push(out.buffer);
    }
    port.postMessage({ id, data: out }, transfer);
  } catch (e) {
    port.postMessage({ id, error: { name: e && e.name, message: String(e && e.message || e), code: e && e.code, stack: e && e.stack } });
  }
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

interface Bridge {
  worker: Worker;
  port: MessagePort;
  flag: Int32Array;
  seq: number;
}

let bridge: Bridge | undefined;

function start(): Bridge {
  const { port1, port2 } = new MessageChannel();
  const signal = new SharedArrayBuffer(4);
  const roots = [process.argv[1], path.join(process.cwd(), 'index.js')]
    .filter((r): r is string => typeof r === 'string' && r.length > 0)
    .map((r) => path.resolve(r));
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { port: port2, signal, roots },
    transferList: [port2],
  });
  worker.unref();
  worker.on('error', () => {
    bridge = undefined;
  });
  worker.on('exit', () => {
    if (bridge?.worker === worker) bridge = undefined;
  });
  return { worker, port: port1, flag: new Int32Array(signal), seq: 0 };
}

interface Reply {
  id: number;
  data?: Uint8Array | null;
  error?: { name?: string; message: string; code?: string; stack?: string };
}

export interface FetchSyncOptions {
  /**
   * Wait up to this long for the key to exist first (the connector's `waitFor`, else polling
   * with backoff), then fetch. Used by futures. A key still missing then reads as null.
   */
  waitMs?: number;
}

/**
 * Fetches `key` synchronously by running the connector's async `get` on a shared worker
 * thread and blocking this thread with `Atomics.wait` until the bytes arrive or `timeoutMs`
 * passes. The bytes are transferred, not copied.
 */
export function fetchSync(
  config: ConnectorConfig,
  key: ConnectorKey,
  timeoutMs: number,
  storeName = '?',
  options: FetchSyncOptions = {},
): Uint8Array | null {
  bridge ??= start();
  const b = bridge;
  const id = ++b.seq;
  const waitMs = options.waitMs;
  // When waiting for the key, the worker gives up first and answers null; the outer
  // deadline only catches a bridge that stopped answering.
  const deadline = Date.now() + timeoutMs + (waitMs ?? 0);
  Atomics.store(b.flag, 0, 0);
  b.port.postMessage({ id, config, key, waitMs });
  for (;;) {
    const received = receiveMessageOnPort(b.port);
    if (received) {
      const reply = received.message as Reply;
      if (reply.id !== id) continue;
      if (reply.error) {
        const cause = Object.assign(new Error(reply.error.message), reply.error);
        throw new ConnectorError(
          `Store "${storeName}" (${config.module}#${config.type}) failed to fetch key=${formatKey(key)} on the sync bridge: ${reply.error.message}`,
          { cause },
        );
      }
      const data = reply.data ?? null;
      return data && Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new ProxyResolveTimeoutError(
        `Blocking resolve of key=${formatKey(key)} from store "${storeName}" (${config.module}#${config.type}) did not finish within ${timeoutMs} ms. ` +
          'Use `await resolve(proxy)` for slow stores, or raise syncTimeoutMs.',
      );
    }
    Atomics.wait(b.flag, 0, 0, remaining);
    Atomics.store(b.flag, 0, 0);
  }
}

/** Stops the bridge worker (it is unref'd, so this is only needed to free it early). */
export async function stopSyncBridge(): Promise<void> {
  const b = bridge;
  bridge = undefined;
  if (b) {
    b.port.close();
    await b.worker.terminate();
  }
}
