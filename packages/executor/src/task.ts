import path from 'node:path';

const TASK_BRAND = Symbol.for('@proxy/executor.task');

// biome-ignore lint/suspicious/noExplicitAny: a task's signature is whatever its module exports
export type AnyFunction = (...args: any[]) => unknown;

/**
 * A function another thread, process or machine can run: the module that exports it and the
 * export name. JavaScript cannot ship closures, so this is what crosses the boundary.
 */
export interface TaskRef<F extends AnyFunction = AnyFunction> {
  /** A `file:` URL, an absolute path or a package specifier resolvable where the task runs. */
  readonly module: string;
  readonly export: string;
  /** Carries the function type only; never set at run time. */
  readonly __signature?: F;
  readonly [TASK_BRAND]: true;
}

/** A task reference, or (on an in-process executor only) a plain function. */
export type Task<F extends AnyFunction = AnyFunction> = TaskRef<F> | F;

/**
 * Names a function exported by a module. Relative paths are made absolute against the current
 * directory here, so every worker reads the same file; package specifiers are resolved where
 * the task runs (from that process's working directory).
 */
export function task<F extends AnyFunction = AnyFunction>(
  moduleUrlOrPath: string,
  exportName = 'default',
): TaskRef<F> {
  if (typeof moduleUrlOrPath !== 'string' || moduleUrlOrPath.length === 0) {
    throw new TypeError(
      'task(module, exportName): module must be a non-empty file URL, path or package specifier',
    );
  }
  if (typeof exportName !== 'string' || exportName.length === 0) {
    throw new TypeError(
      `task("${moduleUrlOrPath}", exportName): exportName must be a non-empty string`,
    );
  }
  const isRelative = moduleUrlOrPath.startsWith('./') || moduleUrlOrPath.startsWith('../');
  const module = isRelative ? path.resolve(moduleUrlOrPath) : moduleUrlOrPath;
  return Object.freeze({ module, export: exportName, [TASK_BRAND]: true as const });
}

export function isTaskRef(value: unknown): value is TaskRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[TASK_BRAND] === true
  );
}

/** A short name for messages: `concat (/path/tasks.mjs)` or the function's name. */
export function describeTask(t: Task): string {
  if (isTaskRef(t)) return `${t.export} (${t.module})`;
  return t.name || '<anonymous function>';
}
