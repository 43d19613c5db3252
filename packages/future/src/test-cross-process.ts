// The guide's two-function example across processes, shared by the file and Redis tests: foo
// sets the future, bar uses its proxy, each in its own `node` process, started in either order.
import { FutureTimeoutError, ProxyResolveMissingKeyError, resolve, type Store } from '@proxy/core';
import { Future } from '@proxy/future';
import { checkBuilt, Task } from './test-tasks.js';

interface Data {
  numbers: number[];
  from: number;
}

export function crossProcessTests(makeStore: () => Promise<Store>): void {
  let store: Store;
  const tasks: Task[] = [];
  const start = (role: string, value: unknown, delayMs?: number) => {
    const task = new Task(role, value, delayMs);
    tasks.push(task);
    return task;
  };

  beforeAll(checkBuilt);
  beforeEach(async () => {
    store = await makeStore();
  });
  afterEach(async () => {
    for (const task of tasks.splice(0)) {
      task.kill();
      await task.exited;
    }
    await store.close();
  });

  test('bar (blocking first use of the proxy) starts before foo sets the future', async () => {
    const future = await Future.create<Data>(store);
    const bar = start('bar', future.proxy());
    await bar.next('waiting');
    const foo = start('foo', future);
    const fooPid = (await foo.next('started')).pid;
    expect(await foo.finish()).toMatchObject({ event: 'done', set: true });
    expect(await bar.finish()).toEqual({ event: 'done', independent: 42, sum: 10, from: fooPid });
  });

  test('foo finishes before bar starts', async () => {
    const future = await Future.create<Data>(store);
    const foo = start('foo', future);
    expect(await foo.finish()).toMatchObject({ event: 'done', set: true });
    const bar = start('bar', future.proxy());
    expect(await bar.finish()).toMatchObject({
      event: 'done',
      sum: 10,
      from: (await foo.next('started')).pid,
    });
  });

  test('both start together; bar waits with await resolve(p)', async () => {
    const future = await Future.create<Data>(store);
    const bar = start('bar-async', future.proxy());
    const foo = start('foo', future, 150);
    const fooPid = (await foo.next('started')).pid;
    expect(await bar.finish()).toEqual({ event: 'done', sum: 10, from: fooPid });
    expect(await foo.finish()).toMatchObject({ event: 'done' });
  });

  test('the parent waits with result() and a proxy while a child sets the result', async () => {
    const future = await Future.create<Data>(store);
    const proxy = future.proxy();
    const waiting = future.result({ timeoutMs: 20_000 });
    const resolving = resolve(proxy);
    const foo = start('foo', future);
    const fooPid = (await foo.next('started')).pid;
    expect(await waiting).toEqual({ numbers: [1, 2, 3, 4], from: fooPid });
    await resolving;
    expect(proxy.from).toBe(fooPid);
    expect(await future.done()).toBe(true);
    await foo.finish();
  });

  test('a child waits with result() while the parent sets the result', async () => {
    const future = await Future.create<{ text: string; when: Date }>(store);
    const child = start('result', future);
    await child.next('waiting');
    const when = new Date('2024-05-06T07:08:09.010Z');
    await future.setResult({ text: 'from the parent', when });
    expect(await child.finish()).toEqual({
      event: 'done',
      result: { text: 'from the parent', when: when.toISOString() },
    });
  });

  test('a blocking use in a child times out with FutureTimeoutError naming the key', async () => {
    const future = await Future.create<Data>(store, { timeoutMs: 300 });
    const bar = start('bar', future.proxy());
    const outcome = await bar.finish();
    expect(outcome).toMatchObject({
      event: 'error',
      name: FutureTimeoutError.name,
      code: 'PROXY_FUTURE_TIMEOUT',
    });
    expect(outcome.message).toContain(JSON.stringify(future.key));
  });

  test('a copy of the future in another process cannot set it a second time', async () => {
    const future = await Future.create<Data>(store);
    await future.setResult({ numbers: [0], from: process.pid });
    const foo = start('foo', future);
    expect(await foo.finish()).toMatchObject({ event: 'error', code: 'PROXY_FUTURE_ALREADY_SET' });
    expect((await future.result()).from).toBe(process.pid);
  });

  test('an evicting future read in a child stays done: no copy can set it again', async () => {
    const future = await Future.create<Data>(store, { evict: true });
    await future.setResult({ numbers: [5], from: process.pid });
    const reader = start('result', future);
    expect(await reader.finish()).toEqual({
      event: 'done',
      result: { numbers: [5], from: process.pid },
    });
    const copy = () => Future.fromJSON<Data>(future.toJSON(), { store });
    expect(await copy().done()).toBe(true);
    const foo = start('foo', future);
    expect(await foo.finish()).toMatchObject({ event: 'error', code: 'PROXY_FUTURE_ALREADY_SET' });
    await expect(copy().setResult({ numbers: [], from: 0 })).rejects.toMatchObject({
      code: 'PROXY_FUTURE_ALREADY_SET',
    });
    await expect(copy().result()).rejects.toThrow(ProxyResolveMissingKeyError);
  });
}
