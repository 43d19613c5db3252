import { createRequire } from 'node:module';
import path from 'node:path';
import type { Connector, ConnectorClass, ConnectorConfig } from './connector.js';
import { ConnectorNotFoundError } from './errors.js';

const registered = new Map<string, ConnectorClass>();

function id(module: string, type: string): string {
  return `${module}#${type}`;
}

/**
 * Makes a connector class known to this process, so configs naming it are rebuilt with
 * this exact class. A `Store` registers its connector's class automatically.
 */
export function registerConnector(cls: ConnectorClass): void {
  registered.set(id(cls.packageName, cls.name), cls);
}

/** The places a connector package is looked up from: the application, not core's own folder. */
function requireRoots(): string[] {
  const roots: string[] = [];
  const main = process.argv[1];
  if (main) roots.push(path.resolve(main));
  roots.push(path.join(process.cwd(), 'index.js'));
  return roots;
}

function loadModule(module: string): Record<string, unknown> {
  const errors: unknown[] = [];
  for (const root of requireRoots()) {
    try {
      return createRequire(root)(module) as Record<string, unknown>;
    } catch (error) {
      errors.push(error);
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') break;
    }
  }
  const last = errors.at(-1) as NodeJS.ErrnoException | undefined;
  const missing = last?.code === 'MODULE_NOT_FOUND';
  throw new ConnectorNotFoundError(
    missing
      ? `Connector package "${module}" is not installed for this application (looked from ${requireRoots().join(', ')}). Install it (e.g. \`pnpm add ${module}\`) or call registerConnector().`
      : `Connector package "${module}" failed to load: ${last?.message}`,
    { cause: last },
  );
}

/** The connector class a config names: registered classes first, then the application's packages. */
export function connectorClassFor(
  config: Pick<ConnectorConfig, 'module' | 'type'>,
): ConnectorClass {
  const known = registered.get(id(config.module, config.type));
  if (known) return known;
  const exports = loadModule(config.module);
  const cls = exports[config.type] as ConnectorClass | undefined;
  if (
    typeof cls !== 'function' ||
    typeof (cls as Partial<ConnectorClass>).fromConfig !== 'function'
  ) {
    throw new ConnectorNotFoundError(
      `Package "${config.module}" has no connector export "${config.type}" (a class with a static fromConfig). Check the store config or upgrade the package.`,
    );
  }
  return cls as unknown as ConnectorClass;
}

/** Builds a connector from its config. */
export function connectorFromConfig(config: ConnectorConfig): Connector {
  return connectorClassFor(config).fromConfig(config.options);
}
