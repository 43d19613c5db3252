import { addExtension, Encoder } from 'cbor-x';
import { type ErrorData, errorFromData } from './error-data.js';
import { SerializationError } from './errors.js';
import { factoryFromData, factoryToData } from './factory.js';
import {
  createProxy,
  ProxyLocker,
  ProxyMarker,
  proxyState,
  type Shape,
  withProxyEncoding,
} from './proxy.js';

export type Serializer = (obj: unknown) => Uint8Array;
export type Deserializer = (bytes: Uint8Array) => unknown;

const NL = 0x0a;
const ID_BYTES = 0x4253; // 'BS'
const ID_STRING = 0x5553; // 'US'
const ID_CBOR = 0x4342; // 'CB'
const HEADER_BS = Buffer.from('BS\n');
const HEADER_US = Buffer.from('US\n');
const HEADER_CB = Buffer.from('CB\n');

/** Identifiers Python ProxyStore writes that JavaScript cannot read. */
const PYTHON_ONLY: Record<string, string> = {
  PK: 'a Python pickle',
  CP: 'a Python cloudpickle',
  NP: 'a NumPy array (numpy.save)',
  PD: 'a pandas DataFrame (pickle)',
  PL: 'a polars DataFrame (IPC)',
};

/** CBOR tags of our own (from the first-come-first-served range). */
const TAG_PROXY = 41_000;
const TAG_LOCKER = 41_001;
const TAG_ERROR = 27;
const TAG_DATE_MS = 41_002;

/** How a proxy kind is rebuilt on the receiving side (ownership registers its variants). */
export type ProxyReviver = (factoryData: unknown, shape: Shape, extra: unknown) => unknown;
const proxyRevivers = new Map<string, ProxyReviver>();
/** Called when a proxy of a kind is serialized; returns extra data to write (ownership moves refs). */
export type ProxyEncodeHook = (proxy: unknown) => unknown;
const proxyEncodeHooks = new Map<string, ProxyEncodeHook>();

export function registerProxyKind(
  kind: string,
  reviver: ProxyReviver,
  onEncode?: ProxyEncodeHook,
): void {
  proxyRevivers.set(kind, reviver);
  if (onEncode) proxyEncodeHooks.set(kind, onEncode);
}

const SHAPES: readonly Shape[] = ['object', 'array', 'function'];

/** Tags 41000–41099 are core's own; `registerSerializable` takes tags 41100–41999. */
const FIRST_USER_TAG = 41_100;
const LAST_USER_TAG = 41_999;
const userTags = new Map<number, Function[]>();

// Until a package registers its type, data carrying that tag is refused with a clear error
// (rather than decoding to an opaque cbor-x Tag the application would trip over later).
for (let tag = FIRST_USER_TAG; tag <= LAST_USER_TAG; tag++) {
  addExtension({
    tag,
    decode() {
      throw new SerializationError(
        `Serialized data holds a value of a registered type (CBOR tag ${tag}) that this process does not know: import the package that registers it (e.g. @proxy/future for tag 41100) before deserializing.`,
      );
    },
  } as never);
}

export interface SerializableType<T> {
  /** The class (private constructors are fine): instances are matched with `instanceof`. */
  Class: Function & { prototype: T };
  /** A CBOR tag in 41100–41999, unique per type, stable across versions (it is in stored data). */
  tag: number;
  /** Plain data for an instance (may contain proxies and other registered types). */
  encode(value: T): unknown;
  /** Rebuilds an instance from `encode`'s data. Must not run code taken from the data. */
  decode(data: unknown): T;
}

/**
 * Teaches the core serializer a class of your own, so instances (say a `Future`) can travel
 * inside any serialized value and come back as instances in the receiving process (which
 * must have registered the same type). Registering the same class and tag again is a no-op.
 */
export function registerSerializable<T>(type: SerializableType<T>): void {
  if (!Number.isInteger(type.tag) || type.tag < FIRST_USER_TAG || type.tag > LAST_USER_TAG) {
    throw new RangeError(
      `registerSerializable: tag must be an integer in ${FIRST_USER_TAG}–${LAST_USER_TAG}, got ${type.tag}`,
    );
  }
  const classes = userTags.get(type.tag) ?? [];
  if (classes.includes(type.Class)) return;
  // Another class may share the tag only if it has the same name: a second installed copy of
  // the same package. Instances of either copy then encode; decoding uses the latest.
  if (classes.length > 0 && classes[0]!.name !== type.Class.name) {
    throw new RangeError(
      `registerSerializable: tag ${type.tag} is already used by ${classes[0]!.name}`,
    );
  }
  classes.push(type.Class);
  userTags.set(type.tag, classes);
  addExtension({
    Class: type.Class as never,
    tag: type.tag,
    encode(value: T, encode: (data: unknown) => Uint8Array) {
      return encode(type.encode(value));
    },
    decode: (data: unknown) => type.decode(data),
  });
}

addExtension({
  Class: ProxyMarker,
  tag: TAG_PROXY,
  encode(proxy: unknown, encode: (value: unknown) => Uint8Array) {
    const state = proxyState(proxy)!;
    const hook = proxyEncodeHooks.get(state.kind);
    const extra = hook ? hook(proxy) : undefined;
    return encode([factoryToData(state.factory), state.shape, state.kind, extra]);
  },
  decode(data: unknown) {
    if (!Array.isArray(data) || data.length < 3 || !SHAPES.includes(data[1])) {
      throw new SerializationError('Malformed proxy in serialized data');
    }
    const [factoryData, shape, kind, extra] = data as [unknown, Shape, string, unknown];
    if (kind === 'proxy') return createProxy(factoryFromData(factoryData), { shape });
    const reviver = proxyRevivers.get(kind);
    if (!reviver) {
      throw new SerializationError(
        `Serialized data holds a proxy of kind "${kind}" that this process does not know; import the package that defines it.`,
      );
    }
    return reviver(factoryData, shape, extra);
  },
});

addExtension({
  Class: ProxyLocker,
  tag: TAG_LOCKER,
  encode(locker: ProxyLocker<unknown>, encode: (value: unknown) => Uint8Array) {
    return encode(locker.unlock());
  },
  decode(proxy: unknown) {
    return new ProxyLocker(proxy as object);
  },
});

// cbor-x writes dates as epoch seconds in a float, which loses milliseconds far from 1970;
// whole milliseconds are exact (and keep invalid dates invalid).
addExtension({
  Class: Date,
  tag: TAG_DATE_MS,
  encode(date: Date, encode: (value: unknown) => Uint8Array) {
    return encode(date.getTime());
  },
  decode(ms: unknown) {
    if (typeof ms !== 'number') throw new SerializationError('Malformed date in serialized data');
    return new Date(ms);
  },
});

// cbor-x's own decoder for tag 27 calls any global by name (eval included); ours only
// rebuilds plain Error types, keeping name, message, stack, code and cause.
addExtension({
  Class: Error,
  tag: TAG_ERROR,
  encode(error: Error, encode: (value: unknown) => Uint8Array) {
    const { code } = error as { code?: unknown };
    return encode([error.name, error.message, { stack: error.stack, cause: error.cause, code }]);
  },
  decode(data: unknown) {
    if (!Array.isArray(data) || typeof data[0] !== 'string') {
      throw new SerializationError('Malformed error in serialized data');
    }
    const [name, message, rest] = data as [string, unknown, Partial<ErrorData> | undefined];
    return errorFromData({ ...rest, name, message: String(message ?? '') });
  },
});

const cbor = new Encoder({
  useRecords: false,
  structuredClone: false,
  useTag259ForMaps: true,
  mapsAsObjects: true,
  tagUint8Array: true,
  pack: false,
} as ConstructorParameters<typeof Encoder>[0]);

function withHeader(header: Buffer, payload: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafeSlow(header.length + payload.byteLength);
  out.set(header, 0);
  out.set(payload, header.length);
  return out;
}

/**
 * Serializes a value to ProxyStore's framing: `BS\n` + raw bytes, `US\n` + UTF-8 text, or
 * `CB\n` + CBOR for everything else. Proxies inside are written as their factories.
 */
export function serialize(obj: unknown): Uint8Array {
  if (typeof obj === 'string') {
    const len = Buffer.byteLength(obj);
    const out = Buffer.allocUnsafeSlow(3 + len);
    out.set(HEADER_US, 0);
    out.write(obj, 3, 'utf8');
    return out;
  }
  // Check for a proxy first: `instanceof` runs its prototype trap, which would resolve it.
  if (!proxyState(obj) && obj instanceof Uint8Array) return withHeader(HEADER_BS, obj);
  try {
    // encode() returns a view into a reused buffer: copying it out is required anyway.
    return withProxyEncoding(() => withHeader(HEADER_CB, cbor.encode(obj)));
  } catch (error) {
    if (SerializationError.is(error)) throw error;
    throw new SerializationError(`Cannot serialize value: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * `serialize` as a list of pieces whose concatenation is the serialized form. Raw bytes come
 * back as `[header, bytes]` with the caller's buffer itself (no copy) for connectors that can
 * write pieces; everything else is one piece.
 */
export function serializeParts(obj: unknown): Uint8Array[] {
  if (!proxyState(obj) && obj instanceof Uint8Array) return [HEADER_BS, obj];
  return [serialize(obj)];
}

function describeHeader(bytes: Uint8Array): string {
  return JSON.stringify(Buffer.from(bytes.subarray(0, 3)).toString('latin1'));
}

/** Inverse of `serialize`. Never runs code. Bad input raises `SerializationError`. */
export function deserialize(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) {
    throw new SerializationError(`deserialize expects a Uint8Array, got ${typeof bytes}`);
  }
  if (bytes.byteLength < 3 || bytes[2] !== NL) {
    throw new SerializationError(
      `Not serialized by @proxy or ProxyStore: expected a two-letter identifier and a newline, got ${describeHeader(bytes)} (${bytes.byteLength} bytes)`,
    );
  }
  const id = (bytes[0]! << 8) | bytes[1]!;
  const body = bytes.subarray(3);
  if (id === ID_BYTES) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (id === ID_STRING) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch (error) {
      throw new SerializationError('Corrupt string data: the payload is not valid UTF-8', {
        cause: error,
      });
    }
  }
  if (id === ID_CBOR) {
    if (body.byteLength === 0) throw new SerializationError('Truncated CBOR data: empty payload');
    try {
      return cbor.decode(body);
    } catch (error) {
      if (SerializationError.is(error)) throw error;
      const message = (error as Error).message ?? String(error);
      const truncated = /end of (buffer|CBOR)|unexpected end|out of bounds/i.test(message);
      throw new SerializationError(
        `${truncated ? 'Truncated' : 'Corrupt'} CBOR data (${body.byteLength} bytes): ${message}`,
        { cause: error },
      );
    }
  }
  const ident = String.fromCharCode(bytes[0]!, bytes[1]!);
  const python = PYTHON_ONLY[ident];
  throw new SerializationError(
    python
      ? `Data is ${python} written by Python ProxyStore (identifier "${ident}"); JavaScript can read only BS (bytes), US (str) and CB (CBOR).`
      : `Unknown serialization identifier ${JSON.stringify(ident)}: expected BS, US or CB`,
  );
}
