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
