import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The built file a worker thread or child process starts from. Located by package name from
 * the application (its main module, then its working directory) because package sources may
 * not use `import.meta`; `explicit` overrides it (bundled apps, unusual layouts).
 */
export function entryPath(subpath: 'worker-entry' | 'process-entry', explicit?: string): string {
  if (explicit !== undefined) return path.resolve(explicit);
  const roots: string[] = [];
  if (process.argv[1]) roots.push(path.resolve(process.argv[1]));
  roots.push(path.join(process.cwd(), 'noop.js'));
  const errors: string[] = [];
  for (const root of roots) {
    try {
      return createRequire(root).resolve(`@proxy/executor/${subpath}`);
    } catch (error) {
      errors.push((error as Error).message.split('\n')[0]!);
    }
  }
  throw new Error(
    `Cannot locate @proxy/executor/${subpath} from ${roots.join(' or ')} (${errors.join('; ')}). Install @proxy/executor in the application, build it, or pass the entry path explicitly.`,
  );
}
