// GetObject answers that s3rver cannot produce (a 5 GB Content-Length, a body cut off), from a
// plain local HTTP server that speaks just enough S3 for one GetObject.
import http from 'node:http';
import type { Socket } from 'node:net';
import { ConnectorError } from '@proxy/core';
import { S3Connector } from './s3-connector.js';
import type { S3Key } from './s3-key.js';
import { rejection } from './test-helpers.js';

type Answer = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function fakeS3(answer: Answer) {
  const sockets = new Set<Socket>();
  const server = http.createServer(answer);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const connector = new S3Connector({
    bucket: 'b',
    endpoint,
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    requestTimeoutMs: 2000,
    maxAttempts: 1,
  });
  return {
    endpoint,
    connector,
    sockets,
    async stop() {
      await connector.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const key: S3Key = { bucket: 'b', objectKey: '0b9c3d7e-1f2a-4b5c-8d9e-0f1a2b3c4d5e' };

test('an object larger than a Buffer can hold: a ConnectorError naming key and size, and the body is dropped', async () => {
  const size = 5_000_000_000;
  const fake = await fakeS3((_req, res) => {
    res.writeHead(200, { 'Content-Length': String(size) });
    res.write(Buffer.alloc(1000));
  });
  try {
    const error = await rejection(fake.connector.get(key));
    expect(error).toBeInstanceOf(ConnectorError);
    expect(error.message).toContain(`s3://b/${key.objectKey}`);
    expect(error.message).toContain(`${size} bytes`);
    expect(error.message).toContain('cannot be read into memory');
    // The connection is not left open with 5 GB pending (the connector is still open).
    const deadline = Date.now() + 2000;
    while (fake.sockets.size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(fake.sockets.size).toBe(0);
  } finally {
    await fake.stop();
  }
});

test('a body cut off after the server answered says so, not "Is the server running?"', async () => {
  const fake = await fakeS3((req, res) => {
    res.writeHead(200, { 'Content-Length': '1000000' });
    res.write(Buffer.alloc(1000));
    setTimeout(() => req.socket.destroy(), 50);
  });
  try {
    const error = await rejection(fake.connector.get(key));
    expect(error).toBeInstanceOf(ConnectorError);
    expect(error.message).toContain(`s3://b/${key.objectKey} at ${fake.endpoint}`);
    expect(error.message).toMatch(/the server answered, but its body was cut off/);
    expect(error.message).toMatch(/after 1000 of 1000000 body bytes/);
    expect(error.message).not.toContain('Is the server running?');
  } finally {
    await fake.stop();
  }
});
