import fs from 'node:fs';
import net from 'node:net';
import { freePort, runConnectorConformance } from '@proxy/connector-test-suite';
import { ConnectorError, InvalidKeyError, Store } from '@proxy/core';
import { Agent, type Dispatcher } from 'undici';
import { BatchRollbackError, EndpointConnector } from './endpoint-connector.js';
import { launchEndpoint, type RunningEndpoint, startEndpoint, tcpProxy } from './test-endpoint.js';

const TOKEN = 'conformance-token';
let memory: RunningEndpoint;
let file: RunningEndpoint;

beforeAll(async () => {
  [memory, file] = await Promise.all([
    startEndpoint({ storage: 'memory', token: TOKEN }),
    startEndpoint({ storage: 'file', maxObjectSize: 1_000_000 }),
  ]);
});

afterAll(async () => {
  await Promise.all([memory?.stop(), file?.stop()]);
  for (const ep of [memory, file]) if (ep) fs.rmSync(ep.home, { recursive: true, force: true });
});

runConnectorConformance({
  name: 'EndpointConnector (memory storage, token)',
  create: () => new EndpointConnector({ endpoints: [memory.address], token: TOKEN }),
  foreignKeys: [
    { objectId: '../../etc/passwd', endpointId: '0f8fad5b-d9cb-469f-a165-70867728950e' },
    { objectId: 'abc', endpointId: 'not-a-uuid' },
    { objectId: '', endpointId: '0f8fad5b-d9cb-469f-a165-70867728950e' },
    { objectId: '..', endpointId: '0f8fad5b-d9cb-469f-a165-70867728950e' },
    { filename: 'abc' },
  ],
});

describe('EndpointConnector (file storage)', () => {
  test('objects land as files in the data dir, written whole', async () => {
    await using c = new EndpointConnector({ endpoints: [file.address] });
    const data = Buffer.alloc(300_000, 7);
    const key = await c.put(data);
    expect(key.endpointId).toBe(file.uuid);
    const onDisk = fs.readFileSync(`${file.home}/${file.name}/data/${key.objectId}`);
    expect(Buffer.compare(onDisk, data)).toBe(0);
    expect(
      fs.readdirSync(`${file.home}/${file.name}/data`).filter((f) => f.endsWith('.tmp')),
    ).toEqual([]);
    await c.evict(key);
    expect(fs.existsSync(`${file.home}/${file.name}/data/${key.objectId}`)).toBe(false);
  });

  test('putParts streams the pieces back to back; the server stores their concatenation', async () => {
    await using c = new EndpointConnector({ endpoints: [file.address] });
    const head = Buffer.from('BS\n');
    const body = Buffer.alloc(200_000, 9);
    const key = await c.putParts([head, body]);
    const onDisk = fs.readFileSync(`${file.home}/${file.name}/data/${key.objectId}`);
    expect(Buffer.compare(onDisk, Buffer.concat([head, body]))).toBe(0);
    const err = await c.putParts([head, Buffer.alloc(1_000_000)]).catch((e: unknown) => e);
    expect((err as Error).message).toContain('max object size');
    await c.evict(key);
  });

  test('a restart keeps every object (ids ending in .tmp too) and drops only crash leftovers', async () => {
    const ep = await startEndpoint({ storage: 'file' });
    let restarted: RunningEndpoint | undefined;
    try {
      const dataDir = `${ep.home}/${ep.name}/data`;
      await using before = new EndpointConnector({ endpoints: [ep.address] });
      const plain = await before.put(Buffer.from('plain'));
      const dotted = { objectId: 'results.tmp', endpointId: ep.uuid };
      await before.set(dotted, Buffer.from('an object, not a temp file'));
      // What a crash mid-upload leaves: a temp file that was never renamed.
      const leftover = `.${plain.objectId}.0123456789ab.tmp`;
      fs.writeFileSync(`${dataDir}/${leftover}`, 'torn');
      await ep.stop();
      restarted = await launchEndpoint(ep);
      await using after = new EndpointConnector({ endpoints: [restarted.address] });
      expect(Buffer.from((await after.get(plain))!).toString()).toBe('plain');
      expect(Buffer.from((await after.get(dotted))!).toString()).toBe('an object, not a temp file');
      expect(fs.existsSync(`${dataDir}/${leftover}`)).toBe(false);
      expect(fs.readdirSync(dataDir).sort()).toEqual([plain.objectId, 'results.tmp'].sort());
    } finally {
      await (restarted ?? ep).stop();
      fs.rmSync(ep.home, { recursive: true, force: true });
    }
  });

  test('waitFor with timeoutMs 0 on a key that exists resolves (the check comes before the timeout)', async () => {
    await using c = new EndpointConnector({ endpoints: [file.address] });
    const key = await c.put(Buffer.from('here'));
    const outcomes = [];
    for (let i = 0; i < 30; i++)
      outcomes.push(
        await c.waitFor(key, { timeoutMs: 0 }).then(
          () => 'found',
          (e: Error) => e.name,
        ),
      );
    expect(outcomes).toEqual(Array(30).fill('found'));
    const missing = await c.newKey();
    await expect(c.waitFor(missing, { timeoutMs: 0 })).rejects.toMatchObject({
      code: 'PROXY_FUTURE_TIMEOUT',
    });
    await c.evict(key);
  });

  test('an object over the max size is refused before sending, naming the address', async () => {
    await using c = new EndpointConnector({ endpoints: [file.address] });
    const err = await c.put(Buffer.alloc(1_000_001)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toContain(file.address);
    expect((err as Error).message).toContain('max object size');
  });
});

describe('EndpointConnector discovery', () => {
  test('finds endpoints by name and by uuid through the config dir (token from the config)', async () => {
    await using byName = new EndpointConnector({
      endpoints: ['no-such-endpoint', memory.name],
      home: memory.home,
    });
    expect((await byName.endpoint()).address).toBe(memory.address);
    await using byUuid = new EndpointConnector({ endpoints: [memory.uuid], home: memory.home });
    const key = await byUuid.put(Buffer.from('by uuid'));
    expect(key.endpointId).toBe(memory.uuid);
    expect(Buffer.from((await byName.get(key))!).toString()).toBe('by uuid');
    await byName.evict(key);
  });

  test('the first reachable endpoint of the list becomes home', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    await using c = new EndpointConnector({
      endpoints: [dead, file.address, memory.address],
      timeoutMs: 2000,
    });
    expect((await c.endpoint()).uuid).toBe(file.uuid);
  });

  test('none reachable: ConnectorError listing every address and why', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    await using c = new EndpointConnector({ endpoints: [dead, memory.address], timeoutMs: 2000 });
    const err = await c.put(Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toContain(dead);
    expect((err as Error).message).toContain(`${memory.address}: HTTP 401`);
  });

  test('a wrong token is a ConnectorError mentioning 401', async () => {
    await using c = new EndpointConnector({ endpoints: [memory.address], token: 'wrong' });
    await expect(c.exists({ objectId: 'a', endpointId: memory.uuid })).rejects.toThrow(
      /401.*wrong token/,
    );
  });

  test('bad options are rejected in the constructor', () => {
    expect(() => new EndpointConnector({ endpoints: [] })).toThrow(TypeError);
    expect(() => new EndpointConnector({ endpoints: [memory.address], timeoutMs: 0 })).toThrow(
      TypeError,
    );
    expect(() => new EndpointConnector({ endpoints: [memory.address], token: '' })).toThrow(
      TypeError,
    );
  });
});

describe('EndpointConnector keys and peering', () => {
  test('a key owned by another endpoint: a ConnectorError saying peering is not configured', async () => {
    await using c = new EndpointConnector({ endpoints: [file.address] });
    const foreign = { objectId: 'abc', endpointId: memory.uuid };
    await expect(c.get(foreign)).rejects.toThrow(/501.*no peering configured/);
  });

  test('malformed keys fail before any request, even with no endpoint up', async () => {
    const c = new EndpointConnector({ endpoints: [`http://127.0.0.1:${await freePort()}`] });
    await expect(c.get({ objectId: 'a/b', endpointId: memory.uuid })).rejects.toBeInstanceOf(
      InvalidKeyError,
    );
    await expect(
      c.set({ objectId: 'a', endpointId: 'x' }, Buffer.from('x')),
    ).rejects.toBeInstanceOf(InvalidKeyError);
    await c.close();
  });

  test('works through Store: put, get, proxy', async () => {
    await using c = new EndpointConnector({ endpoints: [memory.address], token: TOKEN });
    const store = new Store('endpoint-store-test', c, { cacheSize: 0 });
    const key = await store.put({ hello: 'world', n: [1, 2, 3] });
    expect(await store.get(key)).toEqual({ hello: 'world', n: [1, 2, 3] });
    await store.evict(key);
    expect(await store.exists(key)).toBe(false);
  });
});

/** A real undici Agent that records how many of its requests were in flight at once. */
class CountingAgent extends Agent {
  inFlight = 0;
  maxInFlight = 0;
  private idleWaiters: (() => void)[] = [];

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let open = true;
    const finish = () => {
      if (open) this.inFlight--;
      open = false;
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    };
    // Only the completion callbacks the handler has are wrapped: undici picks its handler API
    // by which methods exist.
    const ends = new Set(['onComplete', 'onError', 'onResponseEnd', 'onResponseError']);
    const counted = new Proxy(handler, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        if (!ends.has(String(prop))) return value.bind(target);
        return (...args: unknown[]) => {
          finish();
          return value.apply(target, args);
        };
      },
    });
    return super.dispatch(options, counted);
  }
}

describe('EndpointConnector batches', () => {
  test('a batch of 300 keeps a bounded number of requests in flight and keeps order', async () => {
    const agent = new CountingAgent();
    try {
      await using c = new EndpointConnector({
        endpoints: [memory.address],
        token: TOKEN,
        dispatcher: agent,
      });
      const data = Array.from({ length: 300 }, (_, i) => Buffer.from(`object ${i}`));
      const keys = await c.putBatch(data);
      const back = await c.getBatch(keys);
      expect(back.map((b) => Buffer.from(b!).toString())).toEqual(data.map(String));
      expect(agent.maxInFlight).toBeGreaterThan(1);
      expect(agent.maxInFlight).toBeLessThanOrEqual(32);
      await Promise.all(keys.map((k) => c.evict(k)));
    } finally {
      await agent.close();
    }
  });

  test('a batch that fails part-way leaves none of its objects behind', async () => {
    const agent = new CountingAgent();
    try {
      await using c = new EndpointConnector({ endpoints: [file.address], dispatcher: agent });
      const dataDir = `${file.home}/${file.name}/data`;
      const before = fs.readdirSync(dataDir);
      const data = Array.from({ length: 40 }, (_, i) => Buffer.alloc(1000, i));
      data[25] = Buffer.alloc(1_000_001); // over the endpoint's limit
      const error = await c.putBatch(data).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectorError);
      expect((error as Error).message).toContain('max object size');
      // Every request the batch started has finished, and none of them left an object behind.
      await agent.idle();
      expect(fs.readdirSync(dataDir)).toEqual(before);
    } finally {
      await agent.close();
    }
  });
});

describe('EndpointConnector: rollback of a failed putBatch', () => {
  const dataDir = () => `${file.home}/${file.name}/data`;
  /** 300 small objects whose last one is over the file endpoint's 1 MB limit. */
  const batch = () => {
    const data = Array.from({ length: 300 }, (_, i) => Buffer.from(`rollback ${i}`));
    data[299] = Buffer.alloc(1_000_001);
    return data;
  };

  test('evicts every stored object with the batch concurrency limit (connections counted by a proxy)', async () => {
    const proxy = await tcpProxy(file.address);
    try {
      await using c = new EndpointConnector({ endpoints: [proxy.address] });
      const before = fs.readdirSync(dataDir()).length;
      const error = await c.putBatch(batch()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectorError);
      expect((error as Error).message).toContain('max object size');
      expect(fs.readdirSync(dataDir()).length).toBe(before);
      // Puts and evictions each keep at most 32 requests (so 32 sockets) in flight.
      expect(proxy.maxOpen).toBeGreaterThan(1);
      // 32 batch sockets, plus the one discovery used (idle, kept alive).
      expect(proxy.maxOpen).toBeLessThanOrEqual(33);
    } finally {
      await proxy.close();
    }
  });

  test('retries evictions that fail once; none left behind', async () => {
    const proxy = await tcpProxy(file.address);
    // The first eviction request of each key is cut off.
    const seen = new Set<string>();
    let dropped = 0;
    proxy.drop = (data) => {
      const key = /POST \/evict\?key=([^&\s]+)/.exec(data.toString('latin1'))?.[1];
      if (key === undefined || seen.has(key)) return false;
      seen.add(key);
      dropped++;
      return true;
    };
    try {
      await using c = new EndpointConnector({ endpoints: [proxy.address] });
      const before = fs.readdirSync(dataDir()).length;
      const error = await c.putBatch(batch()).catch((e: unknown) => e);
      expect(dropped).toBe(299);
      expect(error).not.toBeInstanceOf(BatchRollbackError);
      expect((error as Error).message).toContain('max object size');
      expect(fs.readdirSync(dataDir()).length).toBe(before);
    } finally {
      await proxy.close();
    }
  });

  test('objects that cannot be evicted are named in the error, never silently left', async () => {
    const proxy = await tcpProxy(file.address);
    proxy.drop = (data) => data.includes('POST /evict');
    try {
      await using c = new EndpointConnector({ endpoints: [proxy.address] });
      const before = fs.readdirSync(dataDir()).length;
      const error = await c.putBatch(batch()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BatchRollbackError);
      expect(error).toBeInstanceOf(ConnectorError);
      const left = (error as BatchRollbackError).leftBehind;
      expect(left).toHaveLength(299);
      expect((error as Error).message).toContain('299 of the 299 objects');
      expect((error as Error).message).toContain(left[0]!.objectId);
      expect(((error as Error).cause as Error).message).toContain('max object size');
      expect(fs.readdirSync(dataDir()).length).toBe(before + 299);
      await using direct = new EndpointConnector({ endpoints: [file.address] });
      for (const key of left) await direct.evict(key);
      expect(fs.readdirSync(dataDir()).length).toBe(before);
    } finally {
      await proxy.close();
    }
  });
});

describe('EndpointConnector when the server goes away', () => {
  test('a killed server: a ConnectorError naming the address, within the timeout', async () => {
    const ep = await startEndpoint();
    try {
      await using c = new EndpointConnector({ endpoints: [ep.address], timeoutMs: 2000 });
      const key = await c.put(Buffer.from('soon gone'));
      const exited = new Promise((r) => ep.child.once('exit', r));
      ep.child.kill('SIGKILL');
      await exited;
      const started = Date.now();
      const err = await c.get(key).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(2500);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toContain(ep.address);
      expect((err as ConnectorError).cause).toBeDefined();
    } finally {
      await ep.stop();
      fs.rmSync(ep.home, { recursive: true, force: true });
    }
  });

  test('a server that accepts but never answers: ConnectorError within the timeout', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    try {
      await using c = new EndpointConnector({
        endpoints: [`http://127.0.0.1:${port}`],
        timeoutMs: 500,
      });
      const started = Date.now();
      const err = await c.newKey().catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
