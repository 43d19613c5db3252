import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describeWithRedis } from '@proxy/connector-test-suite';
import { Store, serialize } from '@proxy/core';
import { RedisConnector } from './redis-connector.js';

const run = promisify(execFile);

describeWithRedis('RedisConnector across processes', (redis) => {
  test('a child process rebuilds the store from the proxy config and resolves proxies async and synchronously', async () => {
    await using store = new Store(
      'redis-child',
      new RedisConnector({ url: redis().url, keyPrefix: 'child:' }),
    );
    const payload = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
    const expectedSum = payload.reduce((a, b) => a + b, 0);
    const asyncProxy = await store.proxy({ label: 'async', payload });
    const syncProxy = await store.proxy({ label: 'sync', payload: payload.subarray(0, 1000) });
    const message = Buffer.from(serialize({ asyncProxy, syncProxy })).toString('base64');
    // The message carries only factories (key + store config), never the 1 MB payload.
    expect(message.length).toBeLessThan(4000);
    const { stdout } = await run(
      process.execPath,
      [path.join(__dirname, 'fixtures', 'resolve-proxies.mjs'), message, 'redis-child'],
      {
        timeout: 30_000,
      },
    );
    const seen = JSON.parse(stdout);
    expect(seen.connector).toBe('RedisConnector');
    expect(seen.async).toEqual({ label: 'async', sum: expectedSum, size: payload.length });
    expect(seen.sync).toEqual({
      label: 'sync',
      size: 1000,
      sum: payload.subarray(0, 1000).reduce((a, b) => a + b, 0),
    });
  });
});
