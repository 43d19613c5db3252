import path from 'node:path';
import { registeredStores } from '@proxy/core';

export const FIXTURES = path.join(__dirname, 'fixtures', 'tasks.mjs');

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function expectNoStoresLeft(): void {
  expect(registeredStores()).toEqual([]);
}
