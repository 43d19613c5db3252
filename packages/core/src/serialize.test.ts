import fc from 'fast-check';
import { SerializationError } from './errors.js';
import { LambdaFactory, SimpleFactory } from './factory.js';
import { createProxy, isProxy, isResolved, ProxyLocker } from './proxy.js';
import { deserialize, registerSerializable, serialize } from './serialize.js';

function roundTrip<T>(value: T): T {
  return deserialize(serialize(value)) as T;
}

describe('wire framing (ProxyStore compatible)', () => {
  test('bytes are BS\\n + the raw bytes, as Python ProxyStore writes them', () => {
    const out = serialize(Buffer.from([1, 2, 3]));
    expect(Buffer.from(out).toString('latin1', 0, 3)).toBe('BS\n');
    expect([...out.subarray(3)]).toEqual([1, 2, 3]);
    const back = deserialize(Buffer.concat([Buffer.from('BS\n'), Buffer.from([9, 8])]));
    expect(Buffer.isBuffer(back)).toBe(true);
    expect([...(back as Buffer)]).toEqual([9, 8]);
  });

  test('a Uint8Array is written as BS and comes back as a Buffer with the same bytes', () => {
    const back = roundTrip(new Uint8Array([4, 5, 6]));
    expect(Buffer.isBuffer(back)).toBe(true);
    expect([...back]).toEqual([4, 5, 6]);
  });

  test('strings are US\\n + UTF-8, as Python ProxyStore writes str', () => {
    const out = serialize('héllo ✓');
    expect(Buffer.from(out).toString('utf8')).toBe('US\nhéllo ✓');
    expect(deserialize(Buffer.from('US\nfrom python'))).toBe('from python');
  });

  test('everything else is CB\\n + CBOR', () => {
    expect(Buffer.from(serialize({ a: 1 })).toString('latin1', 0, 3)).toBe('CB\n');
  });
});

describe('round trips', () => {
  test.each<[string, unknown]>([
    ['object', { a: 1, b: 'two', c: [1, 2, { d: null }] }],
    [
      'Map',
      new Map<unknown, unknown>([
        ['k', 1],
        [2, { x: 'y' }],
      ]),
    ],
    ['Set', new Set([1, 'a', 3])],
    ['Date', new Date(1_700_000_000_123)],
    ['BigInt', 2n ** 100n],
    ['negative BigInt', -(2n ** 70n)],
    ['undefined in object', { u: undefined }],
    ['Float64Array', new Float64Array([1.5, Number.NaN, -Infinity])],
    ['Int32Array', new Int32Array([1, -1, 2 ** 31 - 1])],
    ['Uint8Array inside object', { bytes: new Uint8Array([1, 2, 3]) }],
    ['Buffer inside object', { buf: Buffer.from('hey') }],
    ['nested Map in array', [new Map([['a', new Set([1])]])]],
    ['number', 42.5],
    ['empty string', ''],
  ])('%s', (_name, value) => {
    expect(roundTrip(value)).toEqual(value);
  });

  test('typed arrays keep their class; Buffer stays Buffer inside CBOR', () => {
    const back = roundTrip({
      f: new Float64Array([1]),
      b: Buffer.from('x'),
      u: new Uint8Array([1]),
    });
    expect(back.f).toBeInstanceOf(Float64Array);
    expect(Buffer.isBuffer(back.b)).toBe(true);
    expect(Buffer.isBuffer(back.u)).toBe(false);
    expect(back.u).toBeInstanceOf(Uint8Array);
  });

  test('errors keep name, message, stack, code and cause', () => {
    const error = Object.assign(new RangeError('too big', { cause: new Error('root') }), {
      code: 'E_BIG',
    });
    const back = roundTrip(error);
    expect(back).toBeInstanceOf(RangeError);
    expect(back.message).toBe('too big');
    expect(back.stack).toBe(error.stack);
    expect((back as { code?: string }).code).toBe('E_BIG');
    expect((back.cause as Error).message).toBe('root');
  });

  test('a proxy is written as its factory and comes back unresolved', () => {
    let resolved = 0;
    const factory = new SimpleFactory({ v: 1 });
    const spy = {
      resolve: () => {
        resolved++;
        return factory.resolve();
      },
      resolveAsync: () => factory.resolveAsync(),
      toData: () => factory.toData(),
    };
    const p = createProxy<{ v: number }>(spy, { shape: 'object' });
    const back = roundTrip({ p, list: [p] });
    expect(resolved).toBe(0);
    expect(isResolved(p)).toBe(false);
    expect(isProxy(back.p)).toBe(true);
    expect(isResolved(back.p)).toBe(false);
    expect(back.p.v).toBe(1);
    expect(back.list[0].v).toBe(1);
  });

  test('a resolved proxy is still written as its factory only (never the cached target)', () => {
    const p = createProxy(new SimpleFactory({ small: true }), {
      target: { huge: 'x'.repeat(10_000) } as never,
    });
    expect(serialize(p).byteLength).toBeLessThan(200);
  });

  test('array and function shape hints travel with the proxy', () => {
    const back = roundTrip(createProxy(new SimpleFactory([1, 2]), { shape: 'array' }));
    expect(Array.isArray(back)).toBe(true);
    expect(isResolved(back)).toBe(false);
  });

  test('a ProxyLocker round trips and its proxy stays unresolved', () => {
    const back = roundTrip(new ProxyLocker(createProxy(new SimpleFactory({ a: 1 }))));
    expect(back).toBeInstanceOf(ProxyLocker);
    expect(isResolved(back.unlock())).toBe(false);
    expect(back.unlock().a).toBe(1);
  });

  test('an in-process-only factory cannot be serialized', () => {
    const p = createProxy(new LambdaFactory(() => ({ a: 1 })));
    expect(() => serialize({ p })).toThrow(SerializationError);
    expect(() => serialize({ p })).toThrow(/cannot cross a process boundary/);
    expect(isResolved(p)).toBe(false);
  });

  test.each<[string, unknown, string]>([
    ['a top-level function', () => 1, 'function'],
    ['a nested function', { f: () => 1 }, 'function'],
    ['a top-level symbol', Symbol('s'), 'symbol'],
    ['a nested symbol', { a: [1, { s: Symbol.for('shared') }] }, 'symbol'],
    ['a symbol in a Map', new Map([['k', Symbol('v')]]), 'symbol'],
  ])('%s is refused with SerializationError naming its type', (_name, value, type) => {
    const error = (() => {
      try {
        serialize(value);
      } catch (e) {
        return e as Error;
      }
      throw new Error('unreachable: serialize did not throw');
    })();
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.message).toBe(`Cannot serialize value: Unknown type: ${type}`);
  });
});

describe('bad input', () => {
  test.each<[string, Uint8Array, RegExp]>([
    ['empty', new Uint8Array(0), /expected a two-letter identifier/],
    ['no newline', Buffer.from('CBx'), /expected a two-letter identifier/],
    ['unknown identifier', Buffer.from('ZZ\nabc'), /Unknown serialization identifier "ZZ"/],
    ['Python pickle', Buffer.from('PK\n\x80\x05'), /Python pickle/],
    ['truncated CBOR', serialize({ a: 'x'.repeat(100) }).subarray(0, 20), /Truncated|Corrupt/],
    ['empty CBOR', Buffer.from('CB\n'), /Truncated CBOR data: empty payload/],
    ['invalid UTF-8', Buffer.from([0x55, 0x53, 0x0a, 0xff, 0xfe]), /not valid UTF-8/],
    [
      'trailing bytes',
      Buffer.concat([serialize({ a: 1 }), Buffer.from([1, 2, 3])]),
      /Corrupt|Truncated/,
    ],
  ])('%s -> SerializationError', (_name, bytes, message) => {
    expect(() => deserialize(bytes)).toThrow(SerializationError);
    expect(() => deserialize(bytes)).toThrow(message);
  });

  test("CBOR's generic-object tag (27) never calls globals such as eval", () => {
    (globalThis as Record<string, unknown>).__pwned = false;
    // tag 27 ["eval", "globalThis.__pwned = true"]
    const payload = Buffer.concat([
      Buffer.from('CB\n'),
      Buffer.from([0xd8, 27, 0x82, 0x64]),
      Buffer.from('eval'),
      Buffer.from([0x78, 25]),
      Buffer.from('globalThis.__pwned = true'),
    ]);
    const out = deserialize(payload);
    expect((globalThis as Record<string, unknown>).__pwned).toBe(false);
    expect(out).toBeInstanceOf(Error);
    delete (globalThis as Record<string, unknown>).__pwned;
  });
});

describe('properties (fast-check)', () => {
  const value = fc.letrec((tie) => ({
    leaf: fc.oneof(
      fc.integer(),
      fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)),
      fc.string(),
      fc.constant(null),
      fc.bigInt(),
      fc.date({ noInvalidDate: true }),
      fc.uint8Array().map((a) => Buffer.from(a)),
    ),
    node: fc.oneof(
      { depthSize: 'small' },
      tie('leaf'),
      fc.array(tie('node'), { maxLength: 5 }),
      fc.dictionary(
        fc.string().filter((k) => k !== '__proto__'),
        tie('node'),
        { maxKeys: 5 },
      ),
      fc.array(fc.tuple(fc.string(), tie('node')), { maxLength: 4 }).map((e) => new Map(e)),
    ),
  }));

  test('serialize/deserialize round trips any value', () => {
    fc.assert(
      fc.property(value.node, (v) => {
        expect(roundTrip(v)).toEqual(v);
      }),
      { numRuns: 300 },
    );
  });

  test('random bytes either decode or raise SerializationError, never anything else', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('BS\n', 'US\n', 'CB\n', 'XX\n', ''),
        fc.uint8Array({ maxLength: 64 }),
        (prefix, body) => {
          try {
            deserialize(Buffer.concat([Buffer.from(prefix), body]));
          } catch (error) {
            expect(SerializationError.is(error)).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('flipping bytes of valid CBOR never crashes or hangs', () => {
    fc.assert(
      fc.property(value.node, fc.nat(), fc.integer({ min: 1, max: 255 }), (v, at, xor) => {
        const bytes = Buffer.from(serialize(v));
        if (bytes.length <= 3) return;
        const i = 3 + (at % (bytes.length - 3));
        bytes[i] = bytes[i]! ^ xor;
        const started = Date.now();
        try {
          deserialize(bytes);
        } catch (error) {
          expect(SerializationError.is(error)).toBe(true);
        }
        expect(Date.now() - started).toBeLessThan(1000);
      }),
      { numRuns: 500 },
    );
  });
});

test('serializing an unresolved proxy at the top level does not resolve it (even a byte-array one)', () => {
  let calls = 0;
  const factory = new SimpleFactory(Buffer.from('abc'));
  const p = createProxy<Buffer>({
    resolve: () => {
      calls++;
      return factory.resolve();
    },
    resolveAsync: () => factory.resolveAsync(),
    toData: () => factory.toData(),
  });
  const bytes = serialize(p);
  expect(calls).toBe(0);
  expect(Buffer.from(bytes).toString('latin1', 0, 3)).toBe('CB\n');
  expect((deserialize(bytes) as Buffer).toString()).toBe('abc');
});

describe('registerSerializable', () => {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
    norm(): number {
      return Math.hypot(this.x, this.y);
    }
  }

  test('instances of a registered class round trip as instances, nested anywhere', () => {
    registerSerializable({
      Class: Point,
      tag: 41_150,
      encode: (p) => [p.x, p.y],
      decode: (d) => new Point(...(d as [number, number])),
    });
    const back = roundTrip({ list: [new Point(3, 4)], m: new Map([['p', new Point(1, 0)]]) });
    expect(back.list[0]).toBeInstanceOf(Point);
    expect(back.list[0]!.norm()).toBe(5);
    expect(back.m.get('p')!.x).toBe(1);
  });

  test("core's tags, tags past the range and a taken tag are refused", () => {
    class Other {}
    const type = { Class: Other, encode: () => 0, decode: () => new Other() };
    expect(() => registerSerializable({ ...type, tag: 41_000 })).toThrow(RangeError);
    expect(() => registerSerializable({ ...type, tag: 42_000 })).toThrow(RangeError);
    expect(() => registerSerializable({ ...type, tag: 41_150 })).toThrow(/already used by Point/);
  });

  test('a second copy of a class (same name, same tag) encodes too; decoding makes the latest', () => {
    const Copy = class Point {
      constructor(readonly x: number) {}
    };
    registerSerializable({
      Class: Copy,
      tag: 41_150,
      encode: (p) => [p.x, 0],
      decode: (d) => new Copy((d as number[])[0]!),
    });
    const back = roundTrip([new Copy(7)]);
    expect(back[0]).toBeInstanceOf(Copy);
    expect(back[0]!.x).toBe(7);
  });

  test('data with a registered-type tag nobody registered here is a SerializationError naming the tag', () => {
    // tag 41234 (0xd9 0xa1 0x12) around the integer 1
    const bytes = Buffer.concat([Buffer.from('CB\n'), Buffer.from([0xd9, 0xa1, 0x12, 0x01])]);
    expect(() => deserialize(bytes)).toThrow(SerializationError);
    expect(() => deserialize(bytes)).toThrow(/CBOR tag 41234.*import the package/);
  });
});
