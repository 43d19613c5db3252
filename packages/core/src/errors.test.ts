import * as errors from './errors.js';

const classes = Object.entries(errors).filter(
  ([name, value]) => typeof value === 'function' && name.endsWith('Error'),
) as [string, typeof errors.ProxyStoreError][];

test('every error class extends ProxyStoreError with its own name and stable code', () => {
  const codes = new Set<string>();
  for (const [name, Cls] of classes) {
    const e =
      name === 'ProxyResolveMissingKeyError'
        ? new errors.ProxyResolveMissingKeyError({ k: 'v' }, 's', 'C')
        : new Cls('msg');
    expect(e).toBeInstanceOf(Error);
    expect(errors.ProxyStoreError.is(e)).toBe(true);
    expect(e.name).toBe(name);
    expect(e.code).toMatch(/^PROXY_/);
    codes.add(e.code);
  }
  expect(codes.size).toBe(classes.length);
  expect(classes.map(([n]) => n)).toEqual(
    expect.arrayContaining([
      'ProxyResolveMissingKeyError',
      'SerializationError',
      'ConnectorError',
      'MutableBorrowError',
      'ReferenceInvalidError',
      'ReferenceNotOwnedError',
      'FutureTimeoutError',
      'InvalidKeyError',
      'StoreExistsError',
      'NonDeferrableConnectorError',
      'NonProxiableTypeError',
    ]),
  );
});

test('Err.is works across copies of the package (branded with Symbol.for), not by class identity', () => {
  const foreign = Object.assign(new Error('from another copy'), {
    [Symbol.for('@proxy/core.error')]: true,
    code: 'PROXY_CONNECTOR',
  });
  expect(errors.ProxyStoreError.is(foreign)).toBe(true);
  expect(errors.ConnectorError.is(foreign)).toBe(true);
  expect(errors.SerializationError.is(foreign)).toBe(false);
  expect(errors.ProxyStoreError.is(new Error('plain'))).toBe(false);
  expect(errors.ProxyStoreError.is(null)).toBe(false);
});

test('ProxyResolveMissingKeyError names the store, connector and key and says what to do', () => {
  const e = new errors.ProxyResolveMissingKeyError(
    { redisKey: 'abc' },
    'my-store',
    'RedisConnector',
  );
  expect(e.message).toContain('Store(name="my-store", connector=RedisConnector)');
  expect(e.message).toContain('{"redisKey":"abc"}');
  expect(e.message).toMatch(/keep the data alive/);
  expect(e.key).toEqual({ redisKey: 'abc' });
});

test('ConnectorError keeps the client error as cause', () => {
  const cause = new Error('ECONNREFUSED 127.0.0.1:1');
  const e = new errors.ConnectorError('Redis at 127.0.0.1:1 is down', { cause });
  expect(e.cause).toBe(cause);
});
