const BRAND = Symbol.for('@proxy/core.error');

/** Renders a connector key (a small JSON object) for an error message. */
export function formatKey(key: unknown): string {
  try {
    return JSON.stringify(key) ?? String(key);
  } catch {
    return String(key);
  }
}

/**
 * Base class of every error @proxy raises. Branded with `Symbol.for` so that
 * `ProxyStoreError.is(e)` holds even when two copies of @proxy/core are installed.
 */
export class ProxyStoreError extends Error {
  readonly code: string = 'PROXY_ERROR';
  readonly [BRAND] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  static is(error: unknown): error is ProxyStoreError {
    return (
      typeof error === 'object' &&
      error !== null &&
      (error as Record<symbol, unknown>)[BRAND] === true
    );
  }
}

function defineError<C extends string>(name: string, code: C) {
  const cls = class extends ProxyStoreError {
    override readonly code: C = code;
    static override is(error: unknown): error is ProxyStoreError {
      return ProxyStoreError.is(error) && error.code === code;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

/** The object behind a key is gone (evicted, expired, never written). */
export class ProxyResolveMissingKeyError extends defineError(
  'ProxyResolveMissingKeyError',
  'PROXY_MISSING_KEY',
) {
  constructor(
    readonly key: unknown,
    readonly storeName: string,
    readonly connectorType: string,
  ) {
    super(
      `Cannot resolve proxy: Store(name="${storeName}", connector=${connectorType}) has no object for key=${formatKey(key)}. ` +
        'It was evicted, expired or never written; keep the data alive while proxies to it exist (ownership or a lifetime).',
    );
  }
}

/** A factory failed while resolving a proxy; `cause` holds the original error. */
export class ProxyResolveError extends defineError('ProxyResolveError', 'PROXY_RESOLVE') {}

/** A blocking (synchronous) resolution did not finish within its timeout. */
export class ProxyResolveTimeoutError extends defineError(
  'ProxyResolveTimeoutError',
  'PROXY_RESOLVE_TIMEOUT',
) {}

/** Bytes that cannot be (de)serialized: corrupt, truncated, unknown identifier, or an unsupported value. */
export class SerializationError extends defineError('SerializationError', 'PROXY_SERIALIZATION') {}

/** The system a connector talks to failed (server down, permission denied, …); `cause` is the client's error. */
export class ConnectorError extends defineError('ConnectorError', 'PROXY_CONNECTOR') {}

/** A key that does not belong to this connector or is malformed. Raised before any I/O. */
export class InvalidKeyError extends defineError('InvalidKeyError', 'PROXY_INVALID_KEY') {}

/** A store config names a connector package or export that cannot be loaded. */
export class ConnectorNotFoundError extends defineError(
  'ConnectorNotFoundError',
  'PROXY_CONNECTOR_NOT_FOUND',
) {}

/** `registerStore` with a name that is already registered. */
export class StoreExistsError extends defineError('StoreExistsError', 'PROXY_STORE_EXISTS') {}

/** `null`, `undefined` and booleans cannot be proxied. */
export class NonProxiableTypeError extends defineError(
  'NonProxiableTypeError',
  'PROXY_NON_PROXIABLE',
) {}

/** An operation needs `newKey`/`set` and the store's connector has neither. */
export class NonDeferrableConnectorError extends defineError(
  'NonDeferrableConnectorError',
  'PROXY_NON_DEFERRABLE',
) {}

/** A mutable borrow while other borrows exist, or any borrow while a mutable one exists. */
export class MutableBorrowError extends defineError('MutableBorrowError', 'PROXY_MUTABLE_BORROW') {}

/** A reference used after it went out of scope or was moved to another process. */
export class ReferenceInvalidError extends defineError(
  'ReferenceInvalidError',
  'PROXY_REFERENCE_INVALID',
) {}

/** An ownership operation given a proxy that is not (or is already) owned. */
export class ReferenceNotOwnedError extends defineError(
  'ReferenceNotOwnedError',
  'PROXY_REFERENCE_NOT_OWNED',
) {}

/** A future was not set within the time allowed. */
export class FutureTimeoutError extends defineError('FutureTimeoutError', 'PROXY_FUTURE_TIMEOUT') {}
