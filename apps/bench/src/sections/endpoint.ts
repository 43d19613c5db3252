import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { EndpointConnector } from '@proxy/connector-endpoint';
import { freePort } from '@proxy/connector-test-suite';
import { Store } from '@proxy/core';
import { Agent, request } from 'undici';
import { type Report, timeInterleaved } from '../report.js';

const SECTION = 'endpoint';
const MB = 1024 * 1024;

/** The built `proxy-endpoint` CLI of the installed package. */
function cliPath(): string {
  const pkgJson = createRequire(path.resolve(process.argv[1]!)).resolve(
    '@proxy/connector-endpoint/package.json',
  );
  const bin = (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { bin: Record<string, string> }).bin[
    'proxy-endpoint'
  ]!;
  return path.join(path.dirname(pkgJson), bin);
}

/** Runs `proxy-endpoint start` in a child process on a free port; resolves with its address. */
async function startServer(home: string): Promise<{ address: string; child: ChildProcess }> {
  const cli = cliPath();
  const env = { ...process.env, PROXY_HOME: home };
  const port = await freePort();
  execFileSync(
    process.execPath,
    [
      cli,
      'configure',
      'bench',
      '--port',
      String(port),
      '--storage',
      'memory',
      '--max-object-size',
      '200MiB',
    ],
    { env },
  );
  const child = spawn(process.execPath, [cli, 'start', 'bench'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) =>
      reject(new Error(`proxy-endpoint exited with ${code} before it was ready`)),
    );
  });
  return { address, child };
}

function bytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4096) b[i] = i & 0xff;
  return b;
}

async function rawPutGet(agent: Agent, address: string, id: string, data: Buffer): Promise<void> {
  const put = await request(`${address}/set?key=${id}`, {
    method: 'POST',
    body: data,
    dispatcher: agent,
  });
  await put.body.dump();
  const got = await request(`${address}/get?key=${id}`, { dispatcher: agent });
  const body = Buffer.from(await got.body.arrayBuffer());
  if (put.statusCode !== 200 || got.statusCode !== 200 || body.length !== data.length)
    throw new Error('raw put+get failed');
}

async function roundTrips(report: Report, address: string): Promise<void> {
  const connector = new EndpointConnector({ endpoints: [address], timeoutMs: 60_000 });
  const store = new Store('bench-endpoint', connector, { cacheSize: 0 });
  const agent = new Agent();
  const cases: [string, number, number][] = [
    ['1 KB', 1024, 300],
    ['1 MB', MB, 40],
    ['100 MB', 100 * MB, 5],
  ];
  try {
    for (const [label, size, runs] of cases) {
      const data = bytes(size);
      const [raw, ours, connectorOnly] = await timeInterleaved(
        `endpoint ${label}`,
        [
          async () => {
            await rawPutGet(agent, address, 'raw', data);
            await (
              await request(`${address}/evict?key=raw`, { method: 'POST', dispatcher: agent })
            ).body.dump();
          },
          async () => {
            const key = await store.put(data);
            const back = (await store.get(key)) as Buffer;
            if (back.length !== size) throw new Error('Store put+get returned the wrong size');
            await store.evict(key);
          },
          async () => {
            const key = await connector.put(data);
            const back = await connector.get(key);
            if (back?.byteLength !== size)
              throw new Error('EndpointConnector put+get returned the wrong size');
            await connector.evict(key);
          },
        ],
        runs,
        size > 10 * MB ? 1 : 3,
        size >= MB,
      );
      report.add({
        section: SECTION,
        case: `put+get+evict ${label} (Store vs raw undici)`,
        ours: ours!,
        raw: raw!,
        unit: 'ms',
        target: '<= 1.25x raw',
        met: ours! <= 1.25 * raw!,
      });
      report.add({
        section: SECTION,
        case: `put+get+evict ${label} (EndpointConnector vs raw undici)`,
        ours: connectorOnly!,
        raw: raw!,
        unit: 'ms',
        target: '<= 1.25x raw',
        met: connectorOnly! <= 1.25 * raw!,
        note: 'without serialization: the HTTP path alone',
      });
    }
  } finally {
    await store.close();
    await agent.close();
  }
}

/** Requests per second of `clients` loops doing put then get of 1 KB, for `durationMs`. */
async function throughput(
  clients: number,
  durationMs: number,
  putGet: (client: number, i: number) => Promise<void>,
): Promise<{ requests: number; ms: number }> {
  let requests = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let i = 0; performance.now() - started < durationMs; i++) {
        await putGet(client, i);
        requests += 2;
      }
    }),
  );
  return { requests, ms: performance.now() - started };
}

async function requestsPerSecond(report: Report, address: string): Promise<void> {
  const CLIENTS = 32;
  const data = bytes(1024);
  const connectors = Array.from(
    { length: CLIENTS },
    () => new EndpointConnector({ endpoints: [address] }),
  );
  const agents = Array.from({ length: CLIENTS }, () => new Agent());
  try {
    const ours = async (client: number) => {
      const c = connectors[client]!;
      const key = await c.put(data);
      await c.get(key);
    };
    const raw = async (client: number, i: number) =>
      rawPutGet(agents[client]!, address, `rps-${client}-${i % 100}`, data);
    let rawRequests = 0;
    let oursRequests = 0;
    let rawMs = 0;
    let oursMs = 0;
    await throughput(CLIENTS, 300, raw);
    await throughput(CLIENTS, 300, ours);
    for (let round = 0; round < 4; round++) {
      const r = await throughput(CLIENTS, 750, raw);
      const o = await throughput(CLIENTS, 750, ours);
      rawRequests += r.requests;
      rawMs += r.ms;
      oursRequests += o.requests;
      oursMs += o.ms;
    }
    const rawRps = rawRequests / (rawMs / 1000);
    const oursRps = oursRequests / (oursMs / 1000);
    report.add({
      section: SECTION,
      case: `requests/s, 1 KB put+get, ${CLIENTS} concurrent clients (EndpointConnector vs raw undici)`,
      ours: oursRps,
      raw: rawRps,
      unit: 'req/s',
      target: '>= 0.8x raw',
      met: oursRps >= 0.8 * rawRps,
      note: 'ours keeps every object (new key per put); raw overwrites 100 keys per client',
    });
  } finally {
    await Promise.all([...connectors.map((c) => c.close()), ...agents.map((a) => a.close())]);
  }
}

export default async function endpoint(report: Report): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-bench-endpoint-'));
  const { address, child } = await startServer(home);
  console.log(`  endpoint server (memory storage) at ${address}, pid ${child.pid}`);
  try {
    await roundTrips(report, address);
    await requestsPerSecond(report, address);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(home, { recursive: true, force: true });
  }
}
