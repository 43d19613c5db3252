/** An error as plain data: what crosses a thread, process or queue boundary. */
export interface ErrorData {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  cause?: unknown;
}

const ERROR_TYPES: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Plain data for any thrown value (non-errors become an Error saying what was thrown). */
export function errorToData(error: unknown): ErrorData {
  if (
    error instanceof Error ||
    (typeof error === 'object' && error !== null && 'message' in error)
  ) {
    const e = error as Error & { code?: unknown };
    const code = typeof e.code === 'string' || typeof e.code === 'number' ? e.code : undefined;
    return {
      name: String(e.name ?? 'Error'),
      message: String(e.message),
      stack: e.stack,
      ...(code !== undefined ? { code } : {}),
      // A cause crosses as data too, when it is an error (anything else may not be cloneable).
      ...(e.cause instanceof Error ? { cause: errorToData(e.cause) } : {}),
    };
  }
  return { name: 'Error', message: `A non-error value was thrown: ${String(error)}` };
}

function isErrorData(value: unknown): value is ErrorData {
  return (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof Error) &&
    typeof (value as ErrorData).name === 'string' &&
    typeof (value as ErrorData).message === 'string'
  );
}

/**
 * Rebuilds an error from its data. Only the built-in Error types are constructed (never a
 * global looked up by an arbitrary name); others become an Error carrying the original name.
 */
export function errorFromData(data: ErrorData): Error {
  const Ctor = Object.hasOwn(ERROR_TYPES, data.name) ? ERROR_TYPES[data.name]! : Error;
  const cause = isErrorData(data.cause) ? errorFromData(data.cause) : data.cause;
  const error = new Ctor(String(data.message ?? ''), cause !== undefined ? { cause } : undefined);
  if (error.name !== data.name) {
    Object.defineProperty(error, 'name', { value: data.name, configurable: true, writable: true });
  }
  if (typeof data.stack === 'string') error.stack = data.stack;
  if (data.code !== undefined) (error as { code?: unknown }).code = data.code;
  return error;
}
