import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { describeWithService } from '@proxy/connector-test-suite';
import {
  ConnectorError,
  FutureTimeoutError,
  InvalidKeyError,
  Store,
  serialize,
  stopSyncBridge,
  unregisterStore,
} from '@proxy/core';
import { S3Connector } from './s3-connector.js';
import type { S3ConnectorOptions } from './s3-connector-options.js';
import type { S3Key } from './s3-key.js';
import { bytes, MiB, rejection, sha } from './test-helpers.js';
import {
  rawClient,
  S3RVER_HINT,
  type S3TestServer,
  s3rverAvailable,
  startS3Server,
} from './test-s3-server.js';

/** The file s3rver keeps an object's bytes in. */
function objectFile(server: S3TestServer, key: S3Key): string {
  return path.join(server.directory, key.bucket, `${key.objectKey}._S3rver_object`);
}

describeWithService('s3rver', s3rverAvailable, S3RVER_HINT, 'S3Connector against s3rver', () => {
  let server: S3TestServer;
  let raw: S3Client;
  const opened: { close(): Promise<void> }[] = [];
  const connect = (extra: Partial<S3ConnectorOptions> = {}) => {
    const connector = new S3Connector(server.options({ prefix: 'tests/', ...extra }));
    opened.push(connector);
    return connector;
  };

  beforeAll(async () => {
    server = await startS3Server({ log: true, folders: ['tests/'] });
    raw = rawClient(server);
  });

  afterEach(async () => {
    for (const c of opened.splice(0)) await c.close();
  });

  afterAll(async () => {
    raw?.destroy();
    await stopSyncBridge();
    await server?.stop();
  });

  test('uploads read back byte-identical: single PutObject and multipart, via a plain client and on the server disk', async () => {
    const connector = connect({ multipartThresholdBytes: 6 * MiB, partSizeBytes: 5 * MiB });
    for (const [size, seed] of [
      [0, 1],
      [1, 2],
      [MiB + 13, 3],
      [12 * MiB + 7, 4],
    ] as const) {
      const data = bytes(size, seed);
      const key = await connector.put(data);
      const got = await raw.send(new GetObjectCommand({ Bucket: key.bucket, Key: key.objectKey }));
      const back = await got.Body!.transformToByteArray();
      expect(back.byteLength).toBe(size);
      expect(sha(back)).toBe(sha(data));
      // No aws-chunked framing stored: the server's file holds exactly our bytes.
      expect(fs.statSync(objectFile(server, key)).size).toBe(size);
      expect(sha(fs.readFileSync(objectFile(server, key)))).toBe(sha(data));
      await connector.evict(key);
    }
    await server.logged();
    expect(server.requests.some((r) => /^PUT \/[^ ]*\?partNumber=3&uploadId=/.test(r))).toBe(true);
  });

  test('a 64 MB object goes through a multipart upload and back, in one buffer sized from Content-Length', async () => {
    const connector = connect({ multipartThresholdBytes: 16 * MiB, partSizeBytes: 8 * MiB });
    const data = bytes(64 * MiB, 11);
    await server.logged();
    const before = server.requests.length;
    const key = await connector.put(data);
    await server.logged();
    const log = server.requests.slice(before);
    expect(log.filter((r) => r.startsWith('POST') && r.includes('?uploads'))).toHaveLength(1);
    expect(log.filter((r) => /^PUT .*partNumber=\d+&uploadId=.* 200$/.test(r))).toHaveLength(8);
    expect(log.filter((r) => r.startsWith('POST') && r.includes('?uploadId='))).toHaveLength(1);
    const got = await connector.get(key);
    expect(got!.byteLength).toBe(data.byteLength);
    // The buffer owns its memory (no pool slice, no over-allocation): transferable as is.
    expect(got!.buffer.byteLength).toBe(data.byteLength);
    expect(sha(got!)).toBe(sha(data));
    await connector.evict(key);
    expect(await connector.exists(key)).toBe(false);
  });

  test('a failed multipart upload is aborted after its in-flight parts settle, and leaves no object', async () => {
    const client = rawClient(server);
    // A fault in the client (part 3 fails before it is sent); the server stays real.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (
          context.commandName === 'UploadPartCommand' &&
          (args.input as { PartNumber?: number }).PartNumber === 3
        ) {
          throw Object.assign(new Error('injected failure of part 3'), { name: 'InjectedFault' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failPart3' },
    );
    const connector = connect({
      client,
      multipartThresholdBytes: 6 * MiB,
      partSizeBytes: 5 * MiB,
      concurrency: 2,
    });
    const key = await connector.newKey();
    await server.logged();
    const before = server.requests.length;
    const error = await rejection(connector.set(key, bytes(26 * MiB, 5)));
    expect(error).toBeInstanceOf(ConnectorError);
    expect(error.message).toContain('injected failure of part 3');
    expect(error.message).toContain(server.endpoint);
    await server.logged();
    const log = server.requests.slice(before);
    const created = log.find((r) => r.startsWith('POST') && r.includes('?uploads'));
    expect(created).toBeDefined();
    const abortAt = log.findIndex(
      (r) => r.startsWith('DELETE ') && r.includes(`/${key.objectKey}?uploadId=`),
    );
    expect(abortAt).toBeGreaterThan(0);
    // No part was still being uploaded when the abort went out, and none after.
    expect(log.slice(abortAt + 1).some((r) => r.includes('partNumber='))).toBe(false);
    const uploadId = /uploadId=([^ &]+)/.exec(log[abortAt]!)![1]!;
    expect(error.message).toContain(uploadId);
    // The message tells what the server answered to the abort: s3rver 3.7 has no
    // AbortMultipartUpload (405), so there it must say the parts remain, never that none do.
    const abortStatus = Number(log[abortAt]!.slice(-3));
    if (abortStatus === 204 || abortStatus === 200) {
      expect(error.message).toContain('was aborted; no parts remain');
    } else {
      expect(error.message).toMatch(
        /Aborting multipart upload \S+ failed too .*parts stay on the server/,
      );
      expect(error.message).not.toContain('no parts remain');
    }
    expect(await connector.exists(key)).toBe(false);
    expect(await connector.get(key)).toBeNull();
    client.destroy();
  });

  test('putParts stores the concatenation without joining: one streamed PutObject, retried with a fresh body', async () => {
    const client = rawClient(server);
    let attempts = 0;
    // The first attempt reads its body to the end and then fails like a reset connection.
    type Attempt = { request: { body?: unknown } };
    const failFirst = (next: (args: Attempt) => Promise<unknown>) => async (args: Attempt) => {
      attempts++;
      if (attempts === 1 && args.request.body instanceof Readable) {
        for await (const chunk of args.request.body) void chunk;
        throw Object.assign(new Error('socket hang up (injected)'), { code: 'ECONNRESET' });
      }
      return next(args);
    };
    client.middlewareStack.addRelativeTo(failFirst as never, {
      relation: 'after',
      toMiddleware: 'httpSigningMiddleware',
      name: 'failFirstAttempt',
    });
    const connector = connect({ client, multipartThresholdBytes: 6 * MiB, partSizeBytes: 5 * MiB });
    const header = Buffer.from('BS\n');
    const data = bytes(3 * MiB + 1, 31);
    await server.logged();
    const before = server.requests.length;
    const key = await connector.putParts([header, data]);
    expect(attempts).toBe(2);
    await server.logged();
    const writes = server.requests.slice(before).filter((r) => !r.startsWith('GET'));
    expect(writes).toEqual([expect.stringMatching(/^PUT \/\S+\?x-id=PutObject 200$/)]);
    const expected = Buffer.concat([header, data]);
    expect(sha((await connector.get(key))!)).toBe(sha(expected));
    expect(fs.statSync(objectFile(server, key)).size).toBe(expected.length);
    // Above the threshold the parts are joined once and go up as a multipart upload.
    const large = bytes(7 * MiB, 32);
    const big = await connector.putParts([header, large]);
    expect(sha((await connector.get(big))!)).toBe(sha(Buffer.concat([header, large])));
    await connector.evictBatch([key, big]);
    client.destroy();
  });

  test('batches run with bounded concurrency; evictBatch uses DeleteObjects, 1000 keys per request', async () => {
    const client = rawClient(server);
    let inFlight = 0;
    let peak = 0;
    client.middlewareStack.add(
      (next) => async (args) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        try {
          return await next(args);
        } finally {
          inFlight--;
        }
      },
      { step: 'initialize', name: 'countInFlight' },
    );
    const connector = connect({ client, concurrency: 3 });
    const items = Array.from({ length: 20 }, (_, i) => bytes(1000 + i, i + 1));
    const keys = await connector.putBatch(items);
    expect(peak).toBe(3);
    peak = 0;
    const got = await connector.getBatch(keys);
    expect(peak).toBe(3);
    expect(got.map((g) => sha(g!))).toEqual(items.map(sha));
    const never = await Promise.all(Array.from({ length: 1500 }, () => connector.newKey()));
    await server.logged();
    const before = server.requests.length;
    await connector.evictBatch([...keys, ...never]);
    await server.logged();
    const deletes = server.requests
      .slice(before)
      .filter((r) => r.startsWith('POST') && r.includes('?delete'));
    expect(deletes).toHaveLength(2);
    expect(await connector.getBatch(keys)).toEqual(keys.map(() => null));
    client.destroy();
  });

  test('batch and deferrable operations reject foreign keys before any I/O', async () => {
    const connector = connect();
    const foreign = {
      bucket: 'other',
      objectKey: 'tests/0b9c3d7e-1f2a-4b5c-8d9e-0f1a2b3c4d5e',
    } as S3Key;
    const outside = {
      bucket: server.bucket,
      objectKey: 'other/0b9c3d7e-1f2a-4b5c-8d9e-0f1a2b3c4d5e',
    } as S3Key;
    const good = await connector.newKey();
    await server.logged();
    const before = server.requests.length;
    for (const bad of [foreign, outside]) {
      await expect(connector.getBatch([good, bad])).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(connector.evictBatch([good, bad])).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(connector.set(bad, bytes(4, 1))).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(connector.waitFor(bad, { timeoutMs: 10 })).rejects.toBeInstanceOf(
        InvalidKeyError,
      );
    }
    await server.logged();
    expect(server.requests.length).toBe(before);
  });

  test('waitFor: FutureTimeoutError after timeoutMs, the signal reason on abort, found once set by another connector', async () => {
    const waiter = connect();
    const writer = connect();
    const key = await waiter.newKey();
    await server.logged();
    const before = server.requests.length;
    await expect(waiter.waitFor(key, { timeoutMs: 150 })).rejects.toBeInstanceOf(
      FutureTimeoutError,
    );
    await server.logged();
    // Backoff, not a loop: HeadObject at about 0, 10, 30 and 70 ms (then 150 ms, the deadline).
    // A fixed 10 ms poll would make ~15 requests in 150 ms, a busy loop dozens.
    const heads = server.requests
      .slice(before)
      .filter((r) => r.startsWith(`HEAD /${key.bucket}/${key.objectKey} `));
    expect(heads.length).toBeGreaterThanOrEqual(3);
    expect(heads.length).toBeLessThanOrEqual(6);
    const controller = new AbortController();
    const pending = waiter.waitFor(key, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('no longer needed')), 30);
    await expect(pending).rejects.toThrow('no longer needed');
    const found = waiter.waitFor(key, { timeoutMs: 5000 });
    await writer.set(key, bytes(10, 1));
    await expect(found).resolves.toBeUndefined();
    await writer.evict(key);
  });

  test('a key whose fields change between reads (a getter) cannot reach an object outside the prefix + uuid layout', async () => {
    const connector = connect();
    const secret = 'tests/secret-notes';
    await raw.send(
      new PutObjectCommand({ Bucket: server.bucket, Key: secret, Body: Buffer.from('not yours') }),
    );
    // A valid key for the first read of objectKey only, the secret object's name after that:
    // code that checks the key and then reads the field again for the request would reach it.
    const shifty = () => {
      let reads = 0;
      return Object.defineProperties(
        {},
        {
          bucket: { enumerable: true, value: server.bucket },
          objectKey: {
            enumerable: true,
            get: () => (reads++ === 0 ? `tests/${randomUUID()}` : secret),
          },
        },
      ) as S3Key;
    };
    expect(await connector.get(shifty())).toBeNull();
    expect(await connector.exists(shifty())).toBe(false);
    expect(await connector.getBatch([shifty()])).toEqual([null]);
    await connector.evict(shifty());
    await connector.evictBatch([shifty()]);
    await connector.set(shifty(), Buffer.from('overwritten?'));
    await expect(connector.waitFor(shifty(), { timeoutMs: 1 })).rejects.toBeInstanceOf(
      FutureTimeoutError,
    );
    const got = await raw.send(new GetObjectCommand({ Bucket: server.bucket, Key: secret }));
    expect(await got.Body!.transformToString()).toBe('not yours');
    await raw.send(new DeleteObjectCommand({ Bucket: server.bucket, Key: secret }));
  });

  test('a putBatch that fails part-way deletes the objects it stored (the caller never got their keys)', async () => {
    const connector = connect();
    const listing = async () => {
      const page = await raw.send(
        new ListObjectsV2Command({ Bucket: server.bucket, Prefix: 'tests/' }),
      );
      return (page.Contents ?? []).map((o) => o.Key).sort();
    };
    const before = await listing();
    const error = await rejection(
      connector.putBatch([bytes(100, 1), 'not bytes' as never, bytes(2 * MiB, 2)]),
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toContain('S3Connector stores Uint8Array values');
    expect(await listing()).toEqual(before);
  });

  test('a missing bucket is a ConnectorError that says so, for every operation, and waitFor does not hang', async () => {
    const connector = connect({ bucket: 'no-such-bucket' });
    const key = await connector.newKey();
    const said = /bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+/;
    for (const op of [
      () => connector.put(bytes(10, 1)),
      () => connector.get(key),
      () => connector.exists(key),
      () => connector.evict(key),
      () => connector.waitFor(key, { timeoutMs: 5000 }),
    ]) {
      const error = await rejection(op());
      expect(error).toBeInstanceOf(ConnectorError);
      expect(error.message).toMatch(said);
    }
  });

  test('createBucket creates the bucket once, and tolerates one that exists', async () => {
    const bucket = `created-${Date.now()}`;
    const first = connect({ bucket, createBucket: true });
    const key = await first.put(bytes(100, 1));
    expect(fs.existsSync(path.join(server.directory, bucket))).toBe(true);
    const second = connect({ bucket, createBucket: true });
    const other = await second.put(bytes(100, 2));
    expect(sha((await first.get(other))!)).toBe(sha(bytes(100, 2)));
    await server.logged();
    const third = await first.put(bytes(100, 3));
    await server.logged();
    // One CreateBucket per connector (201/200, then 409 BucketAlreadyExists), none per put.
    expect(
      server.requests.filter((r) => r.startsWith(`PUT /${bucket}/ `)).map((r) => r.slice(-3)),
    ).toEqual(['200', '409']);
    await first.evictBatch([key, other, third]);
  });

  test('wrong credentials (an access key s3rver does not know) are a ConnectorError that says they were refused', async () => {
    const connector = connect({
      credentials: { accessKeyId: 'WRONG-KEY', secretAccessKey: 'S3RVER' },
    });
    const key = await connector.newKey();
    for (const op of [
      () => connector.put(bytes(10, 1)),
      () => connector.get(key),
      () => connector.exists(key),
    ]) {
      const error = await rejection(op());
      expect(error).toBeInstanceOf(ConnectorError);
      expect(error.message).toMatch(/was refused/);
      expect(error.message).toContain(server.endpoint);
      expect(error.message).toContain(server.bucket);
    }
  });

  test('a received config cannot turn on createBucket: fromConfig ignores it', async () => {
    const bucket = `from-config-${Date.now()}`;
    const rebuilt = S3Connector.fromConfig({ ...server.options(), bucket, createBucket: true });
    opened.push(rebuilt);
    const error = await rejection(rebuilt.put(bytes(10, 1)));
    expect(error).toBeInstanceOf(ConnectorError);
    expect(error.message).toContain(`bucket "${bucket}" does not exist`);
    expect(fs.existsSync(path.join(server.directory, bucket))).toBe(false);
    await server.logged();
    expect(server.requests.some((r) => r.startsWith(`PUT /${bucket}/ `))).toBe(false);
  });

  test('close destroys its own client: its sockets are closed, later requests through it fail', async () => {
    const connector = connect();
    const key = await connector.put(bytes(10, 4));
    const handler = connector.client.config.requestHandler as unknown as {
      destroy(): void;
    };
    const destroy = jest.spyOn(handler, 'destroy');
    await connector.close();
    expect(destroy).toHaveBeenCalledTimes(1);
    await connector.close();
    expect(destroy).toHaveBeenCalledTimes(1);
    await expect(connector.get(key)).rejects.toThrow(/is closed/);
    await raw.send(new DeleteObjectCommand({ Bucket: key.bucket, Key: key.objectKey }));
  });

  test('close destroys its own client, not an injected one; operations after close are a ConnectorError', async () => {
    const client = rawClient(server);
    const injected = connect({ client });
    const key = await injected.put(bytes(10, 3));
    await injected.close();
    await expect(injected.get(key)).rejects.toThrow(/is closed/);
    const again = connect({ client });
    expect(sha((await again.get(key))!)).toBe(sha(bytes(10, 3)));
    await again.evict(key);
    client.destroy();
  });

  test('a proxy created here resolves in a child process that imports the packages by name', async () => {
    const connector = connect();
    const store = new Store(`s3-child-${Date.now()}`, connector, { cacheSize: 0 });
    const payload = bytes(3 * MiB + 5, 21);
    const syncProxy = await store.proxy({ name: 'from-parent', payload });
    const asyncProxy = await store.proxy(bytes(2 * MiB, 22));
    const message = Buffer.from(serialize({ sync: syncProxy, async: asyncProxy })).toString(
      'base64',
    );
    const fixture = path.join(__dirname, 'fixtures', 'resolve-proxy.mjs');
    const { stdout } = await promisify(execFile)(process.execPath, [fixture, message], {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      timeout: 60_000,
    });
    expect(JSON.parse(stdout)).toEqual({
      exported: 'function',
      sync: { name: 'from-parent', size: payload.length, sha256: sha(payload) },
      async: { size: 2 * MiB, sha256: sha(bytes(2 * MiB, 22)) },
    });
    unregisterStore(store.name);
    await store.close();
  });
});
