import { spawn } from 'node:child_process';
import path from 'node:path';
import { RedisConnector } from '@proxy/connector-redis';
import { describeWithRedis } from '@proxy/connector-test-suite';
import { Store, serialize } from '@proxy/core';
import { Future } from '@proxy/future';
import { crossProcessTests } from './test-cross-process.js';
import { checkBuilt } from './test-tasks.js';

const packageDir = path.resolve(__dirname, '..');

/** Runs a fixture; resolves with its exit code and output, or kills it after `limitMs`. */
function runUntilExit(
  fixture: string,
  args: string[],
  limitMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [path.join(packageDir, 'src', 'fixtures', fixture), ...args],
      {
        cwd: packageDir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed });
    });
  });
}

describeWithRedis('Future across processes with RedisConnector', (redis) => {
  crossProcessTests(
    async () => new Store('future-redis', new RedisConnector({ url: redis().url })),
  );

  test('a child that read Redis futures exits on its own after closeRegisteredStores()', async () => {
    checkBuilt();
    const store = new Store('future-redis-exit', new RedisConnector({ url: redis().url }));
    try {
      const future = await Future.create<string>(store);
      const other = await Future.create<{ text: string }>(store);
      const payload = Buffer.from(serialize({ value: [future, other.proxy()] })).toString('base64');
      const running = runUntilExit('read-and-exit.mjs', [payload], 15_000);
      setTimeout(() => {
        void future.setResult('from the parent');
        void other.setResult({ text: 'through the proxy' });
      }, 100);
      const outcome = await running;
      expect(outcome).toMatchObject({ killed: false, code: 0, stderr: '' });
      expect(JSON.parse(outcome.stdout)).toEqual({
        result: 'from the parent',
        text: 'through the proxy',
      });
    } finally {
      await store.close();
    }
  });
});
