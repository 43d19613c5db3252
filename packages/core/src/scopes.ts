import { assertReleasable, isBorrow, type RefMutProxy, type RefProxy, releaseRef } from './ref.js';

/**
 * Marks borrowed references out of scope: each returns its borrow to its owner, stops
 * keeping the owner alive, and raises `ReferenceInvalidError` on later use. Refs already out
 * of scope are skipped. A ref deserialized in this process has no owner here:
 * `ReferenceNotOwnedError` (its sender releases it), checked for all refs before any is released.
 */
export function markRefsOutOfScope(...refs: (RefProxy<unknown> | RefMutProxy<unknown>)[]): void {
  assertReleasable(refs);
  for (const ref of refs) releaseRef(ref, true);
}

export interface SubmitOptions {
  /** Positional arguments; borrowed refs among them are released when the task settles. */
  args?: readonly unknown[];
  /**
   * Keyword arguments, passed to the function as one trailing object (JavaScript has no
   * keyword arguments); borrowed refs among its values are released too.
   */
  kwargs?: Record<string, unknown>;
  /** More refs to release, e.g. ones nested inside arguments (args are not searched deeply). */
  registerCustomRefs?: Iterable<unknown>;
}

function collectRefs(options: SubmitOptions): unknown[] {
  const refs = new Set<unknown>();
  for (const ref of options.registerCustomRefs ?? []) if (isBorrow(ref)) refs.add(ref);
  for (const arg of options.args ?? []) if (isBorrow(arg)) refs.add(arg);
  const kwargs = options.kwargs;
  if (typeof kwargs === 'object' && kwargs !== null) {
    for (const value of Object.values(kwargs)) if (isBorrow(value)) refs.add(value);
  }
  return [...refs];
}

/**
 * Calls `fn(...args, kwargs?)` — typically something that runs a task elsewhere and returns
 * a promise — and marks the borrowed refs passed to it out of scope once that promise settles
 * (fulfilled or rejected), or at once if `fn` throws. Returns `fn`'s own result: the release
 * is registered before the caller can await it, so after `await submit(...)` the owner is
 * no longer borrowed.
 */
export function submit<R extends PromiseLike<unknown>>(
  fn: (...args: never[]) => R,
  options: SubmitOptions = {},
): R {
  const refs = collectRefs(options);
  // Fail before the task starts rather than in a callback nobody awaits.
  assertReleasable(refs);
  const release = () => {
    for (const ref of refs) releaseRef(ref, false);
  };
  const args = [...(options.args ?? []), ...(options.kwargs === undefined ? [] : [options.kwargs])];
  let result: R;
  try {
    result = (fn as (...a: unknown[]) => R)(...args);
  } catch (error) {
    release();
    throw error;
  }
  if (result === null || typeof (result as { then?: unknown })?.then !== 'function') {
    release();
    throw new TypeError(
      'submit() expects a function that returns a promise (or another thenable).',
    );
  }
  result.then(release, release);
  return result;
}
