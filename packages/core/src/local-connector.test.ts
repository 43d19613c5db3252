import { runConnectorConformance } from '@proxy/connector-test-suite';
import { LocalConnector } from './local-connector.js';

runConnectorConformance({
  name: 'LocalConnector',
  create: () => new LocalConnector(),
  foreignKeys: [{ id: '../etc/passwd' }, { id: 'not-a-uuid' }],
});

test('connectors sharing an instanceId share data, and a set through one wakes a waiter on the other', async () => {
  const a = new LocalConnector();
  const b = LocalConnector.fromConfig(a.config().options);
  const key = await a.newKey();
  const waiting = b.waitFor(key, { timeoutMs: 2000 });
  await a.set(key, new Uint8Array([1]));
  await expect(waiting).resolves.toBeUndefined();
  expect(await b.get(key)).toEqual(new Uint8Array([1]));
});

test('waitFor leaves no waiter behind once it times out, is aborted or wakes', async () => {
  const connector = new LocalConnector();
  const key = await connector.newKey();
  const timeouts = Array.from({ length: 200 }, () =>
    connector.waitFor(key, { timeoutMs: 5 }).catch((e: Error) => e),
  );
  const controller = new AbortController();
  const aborted = connector.waitFor(key, { signal: controller.signal }).catch((e: Error) => e);
  expect(connector.pendingWaits).toBe(201);
  controller.abort(new Error('stop'));
  expect(((await aborted) as Error).message).toBe('stop');
  const results = await Promise.all(timeouts);
  expect(results.every((e) => (e as Error)?.name === 'FutureTimeoutError')).toBe(true);
  expect(connector.pendingWaits).toBe(0);
  const woken = connector.waitFor(key, { timeoutMs: 2000 });
  expect(connector.pendingWaits).toBe(1);
  await connector.set(key, new Uint8Array([2]));
  await woken;
  expect(connector.pendingWaits).toBe(0);
});
