#!/usr/bin/env node
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { deserialize, serialize } from '@proxy/core';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { listConfigs, newConfig, parseSize, readConfig, writeConfig } from './endpoint-config.js';
import { EndpointConnector } from './endpoint-connector.js';
import { endpointPaths, proxyHome } from './home.js';
import {
  clientAddress,
  endpointStatus,
  runningPid,
  startDetached,
  stopEndpoint,
} from './process-control.js';
import { runEndpoint } from './run-endpoint.js';

function intOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidArgumentError('a port in 1-65535');
  return n;
}

function sizeOption(value: string): number {
  try {
    const n = parseSize(value);
    if (n < 1) throw new Error('must be positive');
    return n;
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** A free port in ProxyStore's range when `configure` is given none. */
async function pickPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 10240 + Math.floor(Math.random() * 10240);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port found in 10240-20480; pass --port');
}

function program(): Command {
  const home = () => proxyHome();
  const cli = new Command('proxy-endpoint')
    .description(`Runs and manages @proxy endpoints (object servers). Configs live in ${home()}.`)
    .showHelpAfterError();

  cli
    .command('configure')
    .description('create the config of a new endpoint')
    .argument('<name>', 'endpoint name ([A-Za-z0-9_-]+)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (default: a free one in 10240-20480)', intOption)
    .addOption(
      new Option('--storage <kind>', 'where objects are kept')
        .choices(['memory', 'file'])
        .default('memory'),
    )
    .option('--data-dir <dir>', 'folder of the file storage (default: <home>/<name>/data)')
    .option(
      '--max-object-size <size>',
      'largest object accepted, e.g. 100MB or 1GiB',
      sizeOption,
      100_000_000,
    )
    .option('--token <token>', 'require "Authorization: Bearer <token>" on every request')
    .action(
      async (
        name: string,
        o: {
          host: string;
          port?: number;
          storage: 'memory' | 'file';
          dataDir?: string;
          maxObjectSize: number;
          token?: string;
        },
      ) => {
        const paths = endpointPaths(name, home());
        if (fs.existsSync(paths.config))
          throw new Error(`endpoint "${name}" already exists (${paths.config}); remove it first`);
        const config = newConfig(name, {
          host: o.host,
          port: o.port ?? (await pickPort()),
          storage: o.storage,
          maxObjectSize: o.maxObjectSize,
          ...(o.dataDir !== undefined && { dataDir: o.dataDir }),
          ...(o.token !== undefined && { token: o.token }),
        });
        const file = writeConfig(config, home());
        console.log(
          `configured endpoint ${name} (${config.uuid}) at ${clientAddress(config.host, config.port)} in ${file}`,
        );
      },
    );

  cli
    .command('start')
    .description('start an endpoint; prints one line with its address once it is ready')
    .argument('<name>')
    .option('--detach', 'run in the background (log in <home>/<name>/endpoint.log)')
    .action(async (name: string, o: { detach?: boolean }) => {
      const config = readConfig(name, home());
      if (!o.detach) {
        await runEndpoint(config, home());
        return;
      }
      const running = runningPid(name, home());
      if (running !== null)
        throw new Error(`endpoint "${name}" is already running (pid ${running})`);
      const { pid, address } = await startDetached(path.resolve(process.argv[1]!), name, home());
      console.log(`endpoint ${name} (${config.uuid}) listening on ${address} pid ${pid}`);
    });

  cli
    .command('stop')
    .description('stop a running endpoint (SIGTERM, then SIGKILL)')
    .argument('<name>')
    .action(async (name: string) => {
      readConfig(name, home());
      const pid = await stopEndpoint(name, home());
      console.log(
        pid === null ? `endpoint ${name} is not running` : `stopped endpoint ${name} (pid ${pid})`,
      );
    });

  cli
    .command('list')
    .description('list configured endpoints')
    .action(() => {
      const rows = listConfigs(home()).map(({ name, config }) => [
        name,
        endpointStatus(name, home()),
        config?.uuid ?? '-',
        config ? clientAddress(config.host, config.port) : '-',
      ]);
      if (rows.length === 0) return console.log(`no endpoints configured in ${home()}`);
      const table = [['NAME', 'STATUS', 'UUID', 'ADDRESS'], ...rows];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
      for (const r of table)
        console.log(
          r
            .map((c, i) => c.padEnd(widths[i]!))
            .join('  ')
            .trimEnd(),
        );
    });

  cli
    .command('remove')
    .description('delete an endpoint config and its data (refused while it runs)')
    .argument('<name>')
    .action((name: string) => {
      const paths = endpointPaths(name, home());
      if (!fs.existsSync(paths.dir)) throw new Error(`no endpoint named "${name}" in ${home()}`);
      if (endpointStatus(name, home()) === 'RUNNING')
        throw new Error(`endpoint "${name}" is running; stop it first`);
      fs.rmSync(paths.dir, { recursive: true, force: true });
      console.log(`removed endpoint ${name}`);
    });

  cli
    .command('test')
    .description(
      'talk to an endpoint through EndpointConnector: put DATA | get KEY | exists KEY | evict KEY',
    )
    .argument('<name>')
    .addArgument(new Argument('<operation>').choices(['put', 'get', 'exists', 'evict']))
    .argument('<value>', 'the string to put, or the key (object id) printed by put')
    .action(async (name: string, operation: 'put' | 'get' | 'exists' | 'evict', value: string) => {
      const connector = new EndpointConnector({ endpoints: [name], home: home() });
      try {
        if (operation === 'put')
          return console.log((await connector.put(serialize(value))).objectId);
        const key = { objectId: value, endpointId: (await connector.endpoint()).uuid };
        if (operation === 'exists') return console.log(String(await connector.exists(key)));
        if (operation === 'evict') {
          await connector.evict(key);
          return console.log(`evicted ${value}`);
        }
        const bytes = await connector.get(key);
        if (bytes === null) throw new Error(`no object with key ${value} on endpoint ${name}`);
        console.log(deserialize(bytes));
      } finally {
        await connector.close();
      }
    });
  return cli;
}

program()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    console.error(`proxy-endpoint: ${(error as Error).message}`);
    process.exitCode = 1;
  });
