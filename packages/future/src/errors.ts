import { ProxyStoreError } from '@proxy/core';

/**
 * `setResult` on a future that already has a result: a second call on the same `Future`
 * object, or (checked best-effort before writing) a key another process already set.
 */
export class FutureAlreadySetError extends ProxyStoreError {
  override readonly code = 'PROXY_FUTURE_ALREADY_SET';

  static override is(error: unknown): error is FutureAlreadySetError {
    return ProxyStoreError.is(error) && error.code === 'PROXY_FUTURE_ALREADY_SET';
  }
}
