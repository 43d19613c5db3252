import { runConnectorConformance } from '@proxy/connector-test-suite';
import { LocalConnector } from './local-connector.js';

runConnectorConformance({
  name: 'LocalConnector',
  create: () => new LocalConnector(),
  foreignKeys: [{ id: '../etc/passwd' }, { id: 'not-a-uuid' }],
});
