import { InvalidKeyError } from '@proxy/core';
import { Redis } from 'ioredis';
import { keySlot } from './key-slot.js';
import { RedisConnector } from './redis-connector.js';
import { assertRedisKey, readySignalKey } from './redis-key.js';

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
  const client = new Redis({
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
  const prefixed = new Redis({ keyPrefix: 'x:', lazyConnect: true });
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
  expect(readySignalKey('a{}b').coLocated).toBe(false);
  // Reference values from the Redis Cluster specification.
  expect(keySlot('123456789')).toBe(0x31c3 % 16384);
  expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
});
