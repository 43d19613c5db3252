import {
  dispose,
  extract,
  getFactory,
  intoOwned,
  isProxy,
  LocalConnector,
  proxyState,
  ReferenceNotOwnedError,
  SerializationError,
  Store,
  type StoreFactory,
} from '@proxy/core';
import { ExecutorShutdownError, TaskCancelledError } from './errors.js';
import { InlineExecutor } from './inline-executor.js';
import { ProxyAlways, ProxyNever, ProxyType } from './policy.js';
import { StoreExecutor } from './store-executor.js';
import { fileStore } from './test-file-store.js';
import { expectNoStoresLeft } from './test-helpers.js';

function keyOf(proxy: unknown) {
  return (getFactory(proxy) as StoreFactory).key;
}

function localStore(name: string): Store {
  return new Store(name, new LocalConnector());
}

describe('StoreExecutor on InlineExecutor', () => {
  afterEach(expectNoStoresLeft);

  it('proxies only the inputs the policy selects, and evicts them once the task settles', async () => {
    const store = localStore('inline-policy');
    const seen: unknown[] = [];
    await using executor = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: ProxyType(String),
    });
    const concat = (base: string, num: number) => {
      seen.push(base, num);
      return `${base}-${num}`;
    };
    const result = await executor.submit(concat, 'foobar', 42);
    expect(isProxy(seen[0])).toBe(true);
    expect(isProxy(seen[1])).toBe(false);
    expect(await store.exists(keyOf(seen[0]))).toBe(false);
    expect(isProxy(result)).toBe(true);
    expect(extract(result)).toBe('foobar-42');
    expect(`${result}`).toBe('foobar-42');
    expect(await store.exists(keyOf(result))).toBe(true);
  });

  it('a failing task rejects with its own error and its inputs are still evicted', async () => {
    const store = localStore('inline-fail');
    await using executor = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: ProxyAlways,
    });
    let input: unknown;
    const boom = (data: Buffer) => {
      input = data;
      throw new RangeError(`bad input of ${data.length} bytes`);
    };
    await expect(executor.submit(boom, Buffer.alloc(10))).rejects.toThrow(
      new RangeError('bad input of 10 bytes'),
    );
    expect(isProxy(input)).toBe(true);
    expect(await store.exists(keyOf(input))).toBe(false);
  });

  it('results are owned proxies with ownership on (dispose evicts) and plain proxies with it off', async () => {
    const store = localStore('inline-ownership');
    await using owned = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: ProxyAlways,
      closeStore: false,
    });
    const result = await owned.submit((s: string) => s.toUpperCase(), 'abc');
    expect(proxyState(result)?.kind).toBe('owned');
    expect(extract(result)).toBe('ABC');
    const key = keyOf(result);
    expect(await store.exists(key)).toBe(true);
    await dispose(result);
    expect(await store.exists(key)).toBe(false);

    await using plain = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: ProxyAlways,
      ownership: false,
    });
    const kept = await plain.submit((s: string) => s.toUpperCase(), 'def');
    expect(proxyState(kept)?.kind).toBe('proxy');
    expect(await store.exists(keyOf(kept))).toBe(true);
  });

  it('ProxyNever passes everything by value and leaves the store empty', async () => {
    const store = localStore('inline-never');
    await using executor = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: ProxyNever,
    });
    const result = await executor.submit((a: string, b: number) => `${a}${b}`, 'a', 1);
    expect(isProxy(result)).toBe(false);
    expect(result).toBe('a1');
  });

  it('map applies the policy to each element, not to whole iterables', async () => {
    const store = localStore('inline-map');
    await using executor = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: ProxyType(String),
    });
    const kinds: string[] = [];
    const pair = (x: unknown, n: number) => {
      kinds.push(`${n}:${isProxy(x)}/${isProxy(n)}`);
      return n * 2;
    };
    const results = await executor.map(pair, ['a', 7, 'c'], [1, 2, 3, 4]);
    expect(results).toEqual([2, 4, 6]);
    expect(kinds.sort()).toEqual(['1:true/false', '2:false/false', '3:true/false']);
  });

  it('map releases the proxied results of the other tasks when one fails', async () => {
    const store = localStore('inline-map-fail');
    await using executor = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: ProxyType(String),
      ownership: false,
    });
    const results: unknown[] = [];
    const task = async (s: string) => {
      // `s` is a proxy of a String: compare its value, not its identity.
      if (String(s) === 'bad') throw new Error('no');
      return `${s}!`;
    };
    const spy = jest.spyOn(store, 'proxy');
    await expect(executor.map(task, ['a', 'bad', 'c'])).rejects.toThrow('no');
    for (const call of spy.mock.results) results.push(await call.value);
    // 3 inputs + 2 results were proxied; every one of them is gone again.
    expect(results).toHaveLength(5);
    for (const proxy of results) expect(await store.exists(keyOf(proxy))).toBe(false);
  });

  it('shutdown with cancelPending rejects tasks that had not started; running ones finish', async () => {
    const store = localStore('inline-cancel');
    const executor = new StoreExecutor(new InlineExecutor({ concurrency: 1 }), store, {
      shouldProxy: ProxyAlways,
    });
    const close = jest.spyOn(store, 'close');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = async (s: string) => {
      await gate;
      return s.length;
    };
    const first = executor.submit(slow, 'running');
    const second = executor.submit(slow, 'pending');
    const third = executor.submit(slow, 'pending too');
    await new Promise((r) => setImmediate(r));
    const stopping = executor.shutdown({ cancelPending: true });
    await expect(second).rejects.toBeInstanceOf(TaskCancelledError);
    await expect(third).rejects.toBeInstanceOf(TaskCancelledError);
    await expect(executor.submit(slow, 'late')).rejects.toBeInstanceOf(ExecutorShutdownError);
    release();
    const firstResult = await first;
    expect(extract(firstResult)).toBe(7);
    expect(close).not.toHaveBeenCalled();
    await stopping;
    // closeStore (default): the store closes once everything has settled.
    expect(close).toHaveBeenCalledTimes(1);
  });

  it('shutdown without cancelPending runs the queued tasks; closeStore=false keeps the store open', async () => {
    const store = localStore('inline-drain');
    const executor = new StoreExecutor(new InlineExecutor({ concurrency: 1 }), store, {
      closeStore: false,
    });
    const order: number[] = [];
    const runs = [1, 2, 3].map((n) => executor.submit(async (x: number) => order.push(x), n));
    await executor.shutdown();
    await Promise.all(runs);
    expect(order).toEqual([1, 2, 3]);
    const key = await store.put('still open');
    expect(await store.get(key)).toBe('still open');
    await store.close();
  });

  it('an input that fails to store rejects the task and leaves none of its other inputs behind', async () => {
    const { store, cleanup, files } = fileStore('inline-bad-input');
    try {
      await using executor = new StoreExecutor(new InlineExecutor(), store, {
        shouldProxy: ProxyAlways,
      });
      let ran = false;
      const task = (..._args: unknown[]) => {
        ran = true;
      };
      const puts = jest.spyOn(store, 'proxy');
      // The method cannot be serialized; the 1 MB buffer is still being written when that fails.
      const error = await executor
        .submit(task, Buffer.alloc(1_000_000, 1), { method() {} }, 'small')
        .catch((e: unknown) => e);
      expect(SerializationError.is(error)).toBe(true);
      expect(ran).toBe(false);
      // Every write the executor started has finished, and none of them left data behind.
      const writes = await Promise.allSettled(puts.mock.results.map((r) => r.value));
      expect(writes.map((w) => w.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(files()).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('a task that returns its proxied input hands that data to the caller instead of evicting it', async () => {
    const store = localStore('inline-identity');
    await using executor = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: ProxyAlways,
    });
    const result = await executor.submit((b: Buffer) => b, Buffer.alloc(10, 9));
    expect(proxyState(result)?.kind).toBe('owned');
    const key = keyOf(result);
    expect(await store.exists(key)).toBe(true);
    expect(result[9]).toBe(9);
    await dispose(result);
    expect(await store.exists(key)).toBe(false);
  });

  it("a proxy the caller passes in comes back untouched: the executor never takes over the caller's data", async () => {
    const store = localStore('inline-caller-proxy');
    await using executor = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: ProxyAlways,
    });
    const mine = await store.proxy({ big: 'data' });
    const key = keyOf(mine);
    const result = await executor.submit((x: unknown) => x, mine);
    expect(result).toBe(mine);
    expect(proxyState(result)?.kind).toBe('proxy');
    await expect(dispose(result)).rejects.toBeInstanceOf(ReferenceNotOwnedError);
    // A failed map releases only what the executor made, never the caller's proxies.
    const other = await store.proxy('mine too');
    const pick = (x: unknown) => {
      if (x === null) throw new Error('no');
      return x;
    };
    await expect(executor.map(pick, [mine, other, null])).rejects.toThrow('no');
    expect(await store.exists(key)).toBe(true);
    expect(await store.exists(keyOf(other))).toBe(true);
    expect(extract(mine)).toEqual({ big: 'data' });
  });

  it('a proxied input the result references inside it stays in the store for the caller', async () => {
    const store = localStore('inline-nested');
    await using executor = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: (v) => Buffer.isBuffer(v),
    });
    const wrap = (data: Buffer) => ({ data, more: [new Map([['in', { data }]])] });
    const result = await executor.submit(wrap, Buffer.alloc(10, 5));
    expect(isProxy(result.data)).toBe(true);
    expect(result.data[9]).toBe(5);
    const key = keyOf(result.data);
    expect(await store.exists(key)).toBe(true);
    // Left to the caller: a plain proxy, whose ownership it takes with intoOwned.
    expect(proxyState(result.data)?.kind).toBe('proxy');
    await dispose(intoOwned(result.data));
    expect(await store.exists(key)).toBe(false);
    // An input the result does not reference is still evicted.
    let seen: unknown;
    const drop = (data: Buffer) => {
      seen = data;
      return { length: data.length };
    };
    expect(await executor.submit(drop, Buffer.alloc(3))).toEqual({ length: 3 });
    expect(await store.exists(keyOf(seen))).toBe(false);
  });

  it('any function is a policy; it is applied to each input and to the result', async () => {
    const store = localStore('inline-custom-policy');
    const asked: unknown[] = [];
    const evenOnly = (value: unknown) => {
      asked.push(value);
      return typeof value === 'number' && value % 2 === 0;
    };
    await using executor = new StoreExecutor(new InlineExecutor(), store, {
      shouldProxy: evenOnly,
    });
    const seen: boolean[] = [];
    const add = (a: number, b: number) => {
      seen.push(isProxy(a), isProxy(b));
      return Number(a) + Number(b);
    };
    const even = await executor.submit(add, 2, 3);
    expect(seen).toEqual([true, false]);
    expect(isProxy(even)).toBe(false); // 5 is odd
    const odd = await executor.submit(add, 1, 3);
    expect(isProxy(odd)).toBe(true); // 4 is even
    expect(extract(odd)).toBe(4);
    expect(asked).toEqual([2, 3, 5, 1, 3, 4]);
  });

  it('shutdown({ wait: false }) returns at once; the store closes when the running task ends', async () => {
    const store = localStore('inline-nowait');
    const executor = new StoreExecutor(new InlineExecutor(), store);
    const closed = new Promise<void>((resolve) => {
      const close = store.close.bind(store);
      store.close = async () => {
        await close();
        resolve();
      };
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let finished = false;
    const running = executor.submit(async () => {
      await gate;
      finished = true;
      return 'late';
    });
    await executor.shutdown({ wait: false });
    expect(finished).toBe(false);
    await expect(executor.submit(() => 1)).rejects.toBeInstanceOf(ExecutorShutdownError);
    release();
    expect(await running).toBe('late');
    await closed;
  });

  it('rejects bad construction arguments with clear errors', () => {
    const store = localStore('inline-bad');
    expect(() => new StoreExecutor({} as never, store)).toThrow(/executor must be an Executor/);
    expect(() => new StoreExecutor(new InlineExecutor(), {} as never)).toThrow(
      /must be a @proxy\/core Store/,
    );
    expect(
      () => new StoreExecutor(new InlineExecutor(), store, { shouldProxy: 'yes' as never }),
    ).toThrow(/shouldProxy/);
  });
});
