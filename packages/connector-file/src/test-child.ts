import path from 'node:path';

export { type NodeResult as ChildResult, runNode } from '@proxy/connector-test-suite';

/** Path of a fixture script in src/fixtures (they import the built packages by name). */
export function fixture(name: string): string {
  return path.join(__dirname, 'fixtures', name);
}
