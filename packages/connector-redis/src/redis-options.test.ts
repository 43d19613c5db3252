import { InvalidKeyError } from '@proxy/core';
import type { Cluster, Redis } from 'ioredis';
import { Redis as RedisClient } from 'ioredis';
import { keySlot } from './key-slot.js';
import { RedisConnector } from './redis-connector.js';
import { assertRedisKey, readySignalKey } from './redis-key.js';
import { ttlMilliseconds } from './redis-options.js';

// None of these connect: clients are lazy until the first command.

test('url sets host, port, db, username, password and TLS; config() repeats a literal password', async () => {
  await using c = new RedisConnector({
    url: 'rediss://alice:s%3Acret@cache.example:6380/4',
    keyPrefix: 'p:',
    ttlSeconds: 9,
  });
  expect(c.address).toBe('rediss://cache.example:6380/4');
  expect(c.config()).toEqual({
    module: '@proxy/connector-redis',
    type: 'RedisConnector',
    options: {
      host: 'cache.example',
      port: 6380,
      db: 4,
      username: 'alice',
      password: 's:cret',
      tls: true,
      keyPrefix: 'p:',
      ttlSeconds: 9,
      connectTimeoutMs: 5000,
      commandTimeoutMs: 30_000,
      maxRetriesPerRequest: 1,
      reconnectMaxDelayMs: 1000,
      readySignalTtlSeconds: 60,
    },
  });
  const client = c.client as Redis;
  expect(client.options).toMatchObject({
    host: 'cache.example',
    port: 6380,
    db: 4,
    username: 'alice',
    password: 's:cret',
  });
  expect(client.options.tls).toEqual({});
  expect(c.toString()).not.toContain('s:cret');
});

test('passwordEnv: config() carries only the variable name; the value is read where the connector is built', async () => {
  process.env.PROXY_TEST_REDIS_PW = 'from-env';
  try {
    await using c = new RedisConnector({ port: 7000, passwordEnv: 'PROXY_TEST_REDIS_PW' });
    expect(JSON.stringify(c.config())).not.toContain('from-env');
    expect(c.config().options.passwordEnv).toBe('PROXY_TEST_REDIS_PW');
    expect((c.client as Redis).options.password).toBe('from-env');
  } finally {
    delete process.env.PROXY_TEST_REDIS_PW;
  }
  expect(() => new RedisConnector({ passwordEnv: 'PROXY_TEST_REDIS_PW' })).toThrow(
    /PROXY_TEST_REDIS_PW.*not set/,
  );
});

test('an injected client with a password: config() has its address but never the password', async () => {
  const client = new RedisClient({
    host: '10.1.2.3',
    port: 6390,
    db: 1,
    username: 'bob',
    password: 'hunter2',
    lazyConnect: true,
  });
  await using c = new RedisConnector({ client });
  const text = JSON.stringify(c.config());
  expect(text).not.toContain('hunter2');
  expect(c.config().options).toMatchObject({
    host: '10.1.2.3',
    port: 6390,
    db: 1,
    username: 'bob',
  });
  client.disconnect();
});

test('cluster options build an ioredis Cluster and config() lists the nodes', async () => {
  await using c = new RedisConnector({
    cluster: [
      { host: '127.0.0.1', port: 7001 },
      { host: '127.0.0.1', port: 7002 },
    ],
    password: 'pw',
  });
  expect(c.client.isCluster).toBe(true);
  expect(c.address).toBe('redis-cluster://127.0.0.1:7001,127.0.0.1:7002');
  expect(c.config().options).toMatchObject({
    cluster: [
      { host: '127.0.0.1', port: 7001 },
      { host: '127.0.0.1', port: 7002 },
    ],
    password: 'pw',
  });
  expect(c.config().options).not.toHaveProperty('host');
});

test('bad options are TypeErrors naming the option', () => {
  const bad: [object, RegExp][] = [
    [{ url: 'http://x' }, /redis:\/\//],
    [{ url: 'redis://x', host: 'y' }, /not several/],
    [{ cluster: [], port: 1 }, /not both/],
    [{ cluster: [] }, /non-empty array/],
    [{ cluster: [{ host: 'a' }] }, /cluster node/],
    [{ cluster: [{ host: 'a', port: 1 }], db: 2 }, /database 0/],
    [{ ttlSeconds: 0 }, /ttlSeconds/],
    [{ commandTimeoutMs: -1 }, /commandTimeoutMs/],
    [{ db: 1.5 }, /db/],
    [{ password: 'a', passwordEnv: 'B' }, /password or passwordEnv/],
    [{ client: {} }, /ioredis Redis or Cluster/],
    [{ keyPrefix: 3 }, /keyPrefix/],
  ];
  for (const [options, message] of bad)
    expect(() => new RedisConnector(options as never)).toThrow(message);
  const prefixed = new RedisClient({ keyPrefix: 'x:', lazyConnect: true });
  expect(() => new RedisConnector({ client: prefixed })).toThrow(/ioredis keyPrefix/);
  prefixed.disconnect();
});

test('keys: foreign names are accepted, malformed keys are InvalidKeyError', () => {
  expect(() => assertRedisKey({ redisKey: 'anything/at:all' }, '')).not.toThrow();
  expect(() => assertRedisKey({ redisKey: 'app:x' }, 'app:')).not.toThrow();
  for (const bad of [
    null,
    'k',
    { redisKey: '' },
    { redisKey: 1 },
    { redisKey: 'k', more: 'x' },
    { key: 'k' },
  ]) {
    expect(() => assertRedisKey(bad, '')).toThrow(InvalidKeyError);
  }
  expect(() => assertRedisKey({ redisKey: 'other:x' }, 'app:')).toThrow(/keyPrefix "app:"/);
  expect(() => assertRedisKey({ redisKey: 'app:' }, 'app:')).toThrow(InvalidKeyError);
});

test('the waitFor signal list shares the slot of its key', () => {
  for (const name of ['0b3c5d1e-1111-4222-8333-444455556666', 'app:x', '{tag}rest']) {
    const signal = readySignalKey(name);
    expect(signal.coLocated).toBe(true);
    expect(keySlot(signal.name)).toBe(keySlot(name));
  }
  expect(readySignalKey('0b3c5d1e').name).toBe('{0b3c5d1e}:ready');
  expect(readySignalKey('a{}b').coLocated).toBe(false);
  expect(keySlot(readySignalKey('a{}b').name)).not.toBe(keySlot('a{}b'));
  // Reference values from the Redis Cluster specification.
  expect(keySlot('123456789')).toBe(0x31c3 % 16384);
  expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
});

test("the waitFor signal list stays inside keyPrefix, in the key's slot whenever a hash tag allows", () => {
  const cases: [name: string, prefix: string, signal: string, coLocated: boolean][] = [
    ['app:0b3c5d1e', 'app:', 'app:{app:0b3c5d1e}:ready', true],
    ['app:{job}x', 'app:', 'app:{job}x:ready', true],
    ['{job42}:0b3c5d1e', '{job42}:', '{job42}:0b3c5d1e:ready', true],
    ['été:ü', 'été:', 'été:{été:ü}:ready', true],
    // Braces that form no tag: the name cannot be a tag itself, so the slots differ.
    ['app:a{}b', 'app:', 'app:{app:a{}b}:ready', false],
    ['app:x}y', 'app:', 'app:{app:x}y}:ready', false],
  ];
  for (const [name, prefix, expected, coLocated] of cases) {
    const signal = readySignalKey(name, prefix);
    expect(signal).toEqual({ name: expected, coLocated });
    expect(signal.name.startsWith(prefix)).toBe(true);
    expect(keySlot(signal.name) === keySlot(name)).toBe(coLocated);
  }
});

test('IPv6 urls lose their brackets: the host is the address, the address text keeps them', async () => {
  await using c = new RedisConnector({ url: 'redis://[::1]:6380/2' });
  expect((c.client as Redis).options.host).toBe('::1');
  expect(c.config().options).toMatchObject({ host: '::1', port: 6380, db: 2 });
  expect(c.address).toBe('redis://[::1]:6380/2');
  await using full = new RedisConnector({ url: 'rediss://u:p@[2001:db8::7]/1' });
  expect((full.client as Redis).options.host).toBe('2001:db8::7');
  expect(full.address).toBe('rediss://[2001:db8::7]:6379/1');
  // A rebuilt connector reaches the same host.
  await using rebuilt = RedisConnector.fromConfig(c.config().options);
  expect((rebuilt.client as Redis).options.host).toBe('::1');
  await using cluster = new RedisConnector({ cluster: [{ host: '::1', port: 7000 }] });
  expect(cluster.address).toBe('redis-cluster://[::1]:7000');
});

test('TLS private key material never reaches config(); the rest of the TLS settings do', async () => {
  const tls = {
    ca: 'CA-PEM',
    cert: 'CERT-PEM',
    key: 'PRIVATE-KEY-PEM',
    pfx: 'PFX-BLOB',
    passphrase: 'key-passphrase',
    servername: 'cache.example',
    rejectUnauthorized: false,
  };
  await using c = new RedisConnector({ host: 'cache.example', tls });
  const text = JSON.stringify(c.config());
  for (const secret of ['PRIVATE-KEY-PEM', 'PFX-BLOB', 'key-passphrase'])
    expect(text).not.toContain(secret);
  expect(c.config().options.tls).toEqual({
    ca: 'CA-PEM',
    cert: 'CERT-PEM',
    servername: 'cache.example',
    rejectUnauthorized: false,
  });
  // This connector still connects with the key it was given.
  expect((c.client as Redis).options.tls).toMatchObject({
    key: 'PRIVATE-KEY-PEM',
    cert: 'CERT-PEM',
  });
  await using keyOnly = new RedisConnector({ tls: { key: 'PRIVATE-KEY-PEM' } });
  expect(keyOnly.config().options.tls).toBe(true);
});

test('tlsKeyEnv: the key is read from the environment where the connector is built; config() has only the name', async () => {
  process.env.PROXY_TEST_TLS_KEY = 'KEY-FROM-ENV';
  try {
    await using c = new RedisConnector({
      url: 'rediss://cache.example:6380',
      tls: { ca: 'CA-PEM', cert: 'CERT-PEM' },
      tlsKeyEnv: 'PROXY_TEST_TLS_KEY',
    });
    expect((c.client as Redis).options.tls).toEqual({
      ca: 'CA-PEM',
      cert: 'CERT-PEM',
      key: 'KEY-FROM-ENV',
    });
    const { options } = c.config();
    expect(JSON.stringify(options)).not.toContain('KEY-FROM-ENV');
    expect(options).toMatchObject({
      tls: { ca: 'CA-PEM', cert: 'CERT-PEM' },
      tlsKeyEnv: 'PROXY_TEST_TLS_KEY',
    });
    // Another process rebuilding from config() reads its own value of the variable.
    process.env.PROXY_TEST_TLS_KEY = 'OTHER-PROCESS-KEY';
    await using rebuilt = RedisConnector.fromConfig(JSON.parse(JSON.stringify(options)));
    expect((rebuilt.client as Redis).options.tls).toMatchObject({ key: 'OTHER-PROCESS-KEY' });
    await using clustered = new RedisConnector({
      cluster: [{ host: '127.0.0.1', port: 7001 }],
      tls: true,
      tlsKeyEnv: 'PROXY_TEST_TLS_KEY',
    });
    expect((clustered.client as Cluster).options.redisOptions?.tls).toEqual({
      key: 'OTHER-PROCESS-KEY',
    });
  } finally {
    delete process.env.PROXY_TEST_TLS_KEY;
  }
  expect(() => new RedisConnector({ tls: true, tlsKeyEnv: 'PROXY_TEST_TLS_KEY' })).toThrow(
    /PROXY_TEST_TLS_KEY \(tlsKeyEnv\) is not set/,
  );
  expect(() => new RedisConnector({ tlsKeyEnv: 'PROXY_TEST_TLS_KEY' })).toThrow(
    /tlsKeyEnv needs TLS/,
  );
  expect(() => new RedisConnector({ tls: { key: 'K' }, tlsKeyEnv: 'PROXY_TEST_TLS_KEY' })).toThrow(
    /tls.key or tlsKeyEnv/,
  );
  expect(() => new RedisConnector({ tls: true, tlsKeyEnv: '' })).toThrow(/tlsKeyEnv/);
});

test('fractional TTLs are valid options (sent as milliseconds); out-of-range ones are TypeErrors', async () => {
  await using c = new RedisConnector({ ttlSeconds: 1.5, readySignalTtlSeconds: 0.5 });
  expect(c.config().options).toMatchObject({ ttlSeconds: 1.5, readySignalTtlSeconds: 0.5 });
  expect(ttlMilliseconds(1.5)).toBe(1500);
  expect(ttlMilliseconds(0.0001)).toBe(1);
  expect(ttlMilliseconds(60)).toBe(60_000);
  for (const name of ['ttlSeconds', 'readySignalTtlSeconds']) {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e13, '5'])
      expect(() => new RedisConnector({ [name]: bad } as never)).toThrow(new RegExp(name));
  }
});
