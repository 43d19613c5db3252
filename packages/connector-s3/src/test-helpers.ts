// Test-only helpers shared by this package's test files.
import { createHash } from 'node:crypto';

export const MiB = 1024 * 1024;

export { bytes } from '@proxy/connector-test-suite';

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}
