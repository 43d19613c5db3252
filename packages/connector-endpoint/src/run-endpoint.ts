import fs from 'node:fs';
import type { EndpointConfig } from './endpoint-config.js';
import { EndpointServer } from './endpoint-server.js';
import { FileStorage } from './file-storage.js';
import { endpointPaths, proxyHome } from './home.js';
import { MemoryStorage } from './memory-storage.js';
import { readPid, runningPid, writePidFile } from './process-control.js';
import type { EndpointStorage } from './storage.js';

export async function openStorage(
  config: EndpointConfig,
  home = proxyHome(),
): Promise<EndpointStorage> {
  const { kind, maxObjectSize, dataDir } = config.storage;
  if (kind === 'memory') return new MemoryStorage(maxObjectSize);
  return FileStorage.open(dataDir ?? endpointPaths(config.name, home).data, maxObjectSize);
}

/**
 * Runs an endpoint in this process until SIGTERM/SIGINT: writes the PID file, prints one line
 * with the address once it accepts requests, and on a signal closes every connection and
 * removes the PID file before exiting.
 */
export async function runEndpoint(
  config: EndpointConfig,
  home = proxyHome(),
): Promise<EndpointServer> {
  const paths = endpointPaths(config.name, home);
  const running = runningPid(config.name, home);
  if (running !== null && running !== process.pid) {
    throw new Error(
      `endpoint "${config.name}" is already running (pid ${running}); stop it with \`proxy-endpoint stop ${config.name}\``,
    );
  }
  const server = new EndpointServer({
    uuid: config.uuid,
    name: config.name,
    storage: await openStorage(config, home),
    ...(config.token !== undefined && { token: config.token }),
    ...(config.sendTimeoutMs !== undefined && { sendTimeoutMs: config.sendTimeoutMs }),
    log: (line) => console.error(`[${new Date().toISOString()}] ${line}`),
  });
  const address = await server.listen(config.port, config.host);
  writePidFile(paths.pid);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`[${new Date().toISOString()}] ${signal}: stopping endpoint "${config.name}"`);
    const force = setTimeout(() => process.exit(1), 3000);
    force.unref();
    server.close().finally(() => {
      if (readPid(config.name, home) === process.pid) fs.rmSync(paths.pid, { force: true });
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  console.log(
    `endpoint ${config.name} (${config.uuid}) listening on ${address} pid ${process.pid}`,
  );
  return server;
}
