import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TaskNotFoundError } from './errors.js';
import type { AnyFunction } from './task.js';

const modules = new Map<string, Promise<Record<string, unknown>>>();

/**
 * Where to import a task module from. Package specifiers are resolved from the working
 * directory (the application), not from this package's folder: under pnpm's strict layout
 * @proxy/executor cannot see the application's packages.
 */
export function moduleUrl(specifier: string): string {
  if (/^(file|data|node):/.test(specifier)) return specifier;
  if (path.isAbsolute(specifier)) return pathToFileURL(specifier).href;
  const resolved = createRequire(path.join(process.cwd(), 'noop.js')).resolve(specifier);
  return pathToFileURL(resolved).href;
}

/** Imports (once per process) the module a task names and returns the exported function. */
export async function loadTask(module: string, exportName: string): Promise<AnyFunction> {
  let loading = modules.get(module);
  if (!loading) {
    loading = (async () => (await import(moduleUrl(module))) as Record<string, unknown>)();
    modules.set(module, loading);
    loading.catch(() => modules.delete(module));
  }
  let exports: Record<string, unknown>;
  try {
    exports = await loading;
  } catch (error) {
    throw new TaskNotFoundError(
      `Cannot load task module "${module}" in this worker (cwd ${process.cwd()}): ${(error as Error).message}. Use an absolute path, a file: URL or a package installed for the application.`,
      { cause: error },
    );
  }
  const fn = exports[exportName];
  if (typeof fn !== 'function') {
    throw new TaskNotFoundError(
      `Task module "${module}" has no function export "${exportName}" (exports: ${Object.keys(exports).join(', ') || 'none'}).`,
    );
  }
  return fn as AnyFunction;
}
