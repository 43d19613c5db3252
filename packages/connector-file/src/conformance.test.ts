import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { runConnectorConformance } from '@proxy/connector-test-suite';
import { FileConnector } from './file-connector.js';
import { removeTempDirs, tempDir } from './test-dirs.js';

afterAll(() => removeTempDirs());

const uuid = randomUUID();

runConnectorConformance({
  name: 'FileConnector',
  create: () => new FileConnector({ storeDir: path.join(tempDir(), 'store'), clear: true }),
  foreignKeys: [
    { filename: `../${uuid}` },
    { filename: `/tmp/${uuid}` },
    { filename: `${uuid}/x` },
    { filename: `x\\${uuid}` },
    { filename: '..' },
    { filename: '.' },
    { filename: '/etc/passwd' },
    { filename: `${uuid}\0` },
    { filename: `${uuid}.ready` },
    { filename: `.tmp-${uuid}.abcd0` },
    { filename: '' },
    { filename: uuid, extra: 'field' },
    { redisKey: uuid },
    { filename: 42 },
  ],
});
