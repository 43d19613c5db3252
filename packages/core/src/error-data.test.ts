import { errorFromData, errorToData } from './error-data.js';

test('an error survives as data: name, message, stack, code and an error cause', () => {
  const error = Object.assign(new RangeError('out of range', { cause: new TypeError('root') }), {
    code: 'E_RANGE',
  });
  const data = JSON.parse(JSON.stringify(errorToData(error)));
  const back = errorFromData(data);
  expect(back).toBeInstanceOf(RangeError);
  expect(back.message).toBe('out of range');
  expect(back.stack).toBe(error.stack);
  expect((back as { code?: string }).code).toBe('E_RANGE');
  expect(back.cause).toBeInstanceOf(TypeError);
  expect((back.cause as Error).message).toBe('root');
});

test('unknown names never look up globals; non-errors are described', () => {
  const back = errorFromData({ name: 'eval', message: 'globalThis.hacked = true' });
  expect((globalThis as Record<string, unknown>).hacked).toBeUndefined();
  expect(back).toBeInstanceOf(Error);
  expect(back.name).toBe('eval');
  expect(errorToData(42).message).toContain('42');
});
