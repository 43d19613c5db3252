import net from 'node:net';
import { freePort, waitForPort } from './net.js';
import { runNode } from './run-node.js';
import { requireService } from './service.js';

test('freePort returns a port something can listen on', async () => {
  const port = await freePort();
  expect(port).toBeGreaterThan(0);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await expect(waitForPort(port)).resolves.toBeUndefined();
  await new Promise((resolve) => server.close(resolve));
});

test('waitForPort gives up with the address in the message', async () => {
  const port = await freePort();
  await expect(waitForPort(port, '127.0.0.1', 200)).rejects.toThrow(`127.0.0.1:${port}`);
});

test('a missing service fails under CI and is a printed skip elsewhere', () => {
  const saved = process.env.CI;
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    process.env.CI = 'true';
    expect(() => requireService('redis-server', false, 'apt-get install redis-server')).toThrow(
      /\[CI\].*redis-server/,
    );
    process.env.CI = '';
    expect(requireService('redis-server', false, 'apt-get install redis-server')).toBe(false);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('apt-get install redis-server'));
    expect(requireService('redis-server', true, '')).toBe(true);
  } finally {
    process.env.CI = saved;
    warn.mockRestore();
  }
});

test('runNode collects output and exit code, feeds stdin, and kills a child that outlives its timeout', async () => {
  const failing = await runNode('-e', ['process.exit(3)']);
  expect(failing.code).toBe(3);
  const script =
    "process.stdin.on('data', (d) => process.stdout.write('got ' + d)); process.stderr.write('warn')";
  const fed = await runNode('-e', [script], { input: 'ping' });
  expect(fed.stdout).toBe('got ping');
  expect(fed.stderr).toBe('warn');
  const started = Date.now();
  const hung = await runNode('-e', ['setInterval(() => {}, 1000)'], { timeoutMs: 300 });
  expect(hung.signal).toBe('SIGKILL');
  expect(Date.now() - started).toBeLessThan(5000);
});
