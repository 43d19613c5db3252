import fs from 'node:fs';
import net from 'node:net';
import { ConnectorError } from '@proxy/core';
import { EndpointConnector } from './endpoint-connector.js';
import { type RunningEndpoint, startEndpoint, type TcpProxy, tcpProxy } from './test-endpoint.js';

let ep: RunningEndpoint;
let proxy: TcpProxy;

beforeAll(async () => {
  ep = await startEndpoint({ storage: 'memory', maxObjectSize: 64 * 1024 * 1024 });
});
afterAll(async () => {
  await ep?.stop();
  if (ep) fs.rmSync(ep.home, { recursive: true, force: true });
});
afterEach(async () => {
  await proxy?.close();
});

const RATE = 4_000_000; // bytes/s through the proxy
const TIMEOUT_MS = 1000;

describe('uploads through a slow link: timeoutMs is an idle timeout, not a deadline', () => {
  test('a put that takes 2-3x timeoutMs but keeps moving succeeds (put and putParts)', async () => {
    proxy = await tcpProxy(ep.address, RATE);
    await using c = new EndpointConnector({ endpoints: [proxy.address], timeoutMs: TIMEOUT_MS });
    await c.endpoint();
    const data = Buffer.alloc(10_000_000, 5); // 2.5 s at 4 MB/s
    for (const put of [() => c.put(data), () => c.putParts([Buffer.from('BS\n'), data])]) {
      const started = Date.now();
      const key = await put();
      const took = Date.now() - started;
      expect(took).toBeGreaterThan(2 * TIMEOUT_MS);
      const back = await c.get(key);
      expect(back?.byteLength).toBeGreaterThanOrEqual(data.byteLength);
      expect(Buffer.from(back!).subarray(-data.byteLength).equals(data)).toBe(true);
      await c.evict(key);
    }
  }, 30_000);

  test('an upload that stops moving fails with a ConnectorError about timeoutMs later', async () => {
    proxy = await tcpProxy(ep.address, RATE);
    await using c = new EndpointConnector({ endpoints: [proxy.address], timeoutMs: TIMEOUT_MS });
    await c.endpoint();
    const outcome = c.put(Buffer.alloc(10_000_000, 6)).then(
      () => 'stored',
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 500));
    proxy.rate = 0; // the link goes dead mid-upload
    const stalled = Date.now();
    const err = await outcome;
    const after = Date.now() - stalled;
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toContain(`no progress for ${TIMEOUT_MS} ms`);
    expect((err as Error).message).toContain(proxy.address);
    expect((err as Error).message).not.toContain('Is the endpoint running');
    // The sender's and the proxy's socket buffers fill first, then the idle timer runs out.
    expect(after).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    expect(after).toBeLessThan(TIMEOUT_MS + 1500);
  }, 30_000);
});

describe('upload progress reports (102 Processing)', () => {
  /** A raw upload sent in 3 parts 250 ms apart; resolves with everything the server answered. */
  async function slowRawUpload(progress: boolean): Promise<string> {
    const { port } = new URL(ep.address);
    const socket = net.connect(Number(port), '127.0.0.1');
    const closed = new Promise((r) => socket.once('close', r));
    let answer = '';
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    const part = Buffer.alloc(100_000, 1);
    socket.write(
      `POST /set?key=raw-progress HTTP/1.1\r\nHost: x\r\nContent-Length: ${3 * part.length}\r\n${progress ? 'X-Proxy-Progress: 1\r\n' : ''}Connection: close\r\n\r\n`,
    );
    for (let i = 0; i < 3; i++) {
      socket.write(part);
      await new Promise((r) => setTimeout(r, 250));
    }
    await closed;
    return answer;
  }

  test('sent only to a client that asks for them', async () => {
    const asked = await slowRawUpload(true);
    expect(asked).toMatch(/^HTTP\/1\.1 102 Processing\r\n\r\n/);
    expect(asked).toContain('HTTP/1.1 200 OK');
    const plain = await slowRawUpload(false);
    expect(plain).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(plain).not.toContain('102');
  });
});
