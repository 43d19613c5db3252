import {
  type ConnectorKey,
  getFactory,
  isProxy,
  keyId,
  proxyState,
  type Store,
  StoreFactory,
  serialize,
} from '@proxy/core';
import { type ResultPolicy, workerProxiedRefs } from './call.js';
import { ExecutorShutdownError, TaskCancelledError } from './errors.js';
import type { Executor, ShutdownOptions, TaskResult } from './executor.js';
import { type LateOutcome, lateOutcome } from './late.js';
import { proxyKeyIds, releaseResult, storeKeyOf, swapProxies, takeOwnership } from './ownership.js';
import { estimateSize, isPortablePolicy, ProxyNever, type ShouldProxy } from './policy.js';
import type { AnyFunction, Task } from './task.js';

export interface StoreExecutorOptions {
  /** Which arguments and results travel by proxy. Applied to each argument, each `map` element and the result. Default `ProxyNever`. */
  shouldProxy?: ShouldProxy;
  /** Results come back as owned proxies (evicted when disposed or collected). Default true. */
  ownership?: boolean;
  /** `shutdown()` closes the store too. Default true. */
  closeStore?: boolean;
}

function proxiable(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value !== 'boolean' && !isProxy(value);
}

/**
 * Wraps an executor so chosen task inputs and results travel by proxy through a store.
 * Inputs it proxied are evicted once their task settles (success or failure); results the
 * policy selects come back as proxies (owned ones when `ownership` is on).
 */
export class StoreExecutor<E extends Executor = Executor> {
  readonly executor: E;
  readonly store: Store;
  readonly shouldProxy: ShouldProxy;
  readonly ownership: boolean;
  readonly closeStore: boolean;
  private readonly resultPolicy: ResultPolicy | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Tasks still proxying their inputs: not handed to the executor yet. */
  private readonly staging = new Set<Promise<unknown>>();
  /**
   * Results handed to callers → whether this executor made the result proxy (its own result
   * proxying, or an input it proxied returned as is), and the inputs it proxied that the
   * result still references: what a failed `map` releases for results nobody receives.
   */
  private readonly handedOver = new WeakMap<object, { made: boolean; inputs: ConnectorKey[] }>();
  /** Input (and late result) evictions waiting for timed-out tasks that may still run. */
  private readonly lateCleanups = new Set<Promise<void>>();
  private cancelRequested = false;
  private closing: Promise<void> | undefined;

  constructor(executor: E, store: Store, options: StoreExecutorOptions = {}) {
    if (typeof executor?.execute !== 'function')
      throw new TypeError(
        'StoreExecutor: executor must be an Executor (InlineExecutor, WorkerPoolExecutor, …)',
      );
    if (typeof store?.proxy !== 'function')
      throw new TypeError('StoreExecutor: store must be a @proxy/core Store');
    if (options.shouldProxy !== undefined && typeof options.shouldProxy !== 'function') {
      throw new TypeError(
        'StoreExecutor: shouldProxy must be a function such as ProxyType(String)',
      );
    }
    this.executor = executor;
    this.store = store;
    this.shouldProxy = options.shouldProxy ?? ProxyNever;
    this.ownership = options.ownership ?? true;
    this.closeStore = options.closeStore ?? true;
    if (!executor.inProcess) {
      // Every remote executor gets the store, so a worker can proxy results too large to return.
      const policy = isPortablePolicy(this.shouldProxy) ? this.shouldProxy.toData() : undefined;
      this.resultPolicy = { store: store.config(), ...(policy ? { policy } : {}) };
    }
  }

  /** Runs `task(...args)`; resolves with its result (a proxy when the policy selects it). */
  submit<F extends AnyFunction>(task: Task<F>, ...args: Parameters<F>): Promise<TaskResult<F>> {
    if (this.closing) {
      return Promise.reject(
        new ExecutorShutdownError(
          'StoreExecutor is shut down; create a new one to run more tasks.',
        ),
      );
    }
    const run = this.run(task, args) as Promise<TaskResult<F>>;
    const tracked = run.catch(() => {}).finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
    return run;
  }

  /**
   * Runs `task` once per element of the zipped iterables (stopping at the shortest), the policy
   * applied to each element. Resolves with the results in order; if any task fails, the others'
   * proxied results are released and the first error is thrown.
   */
  async map<F extends AnyFunction>(
    task: Task<F>,
    ...iterables: Iterable<unknown>[]
  ): Promise<TaskResult<F>[]> {
    const iterators = iterables.map((it) => it[Symbol.iterator]());
    const runs: Promise<TaskResult<F>>[] = [];
    for (;;) {
      const steps = iterators.map((it) => it.next());
      if (steps.length === 0 || steps.some((s) => s.done)) break;
      runs.push(this.submit(task, ...(steps.map((s) => s.value) as Parameters<F>)));
    }
    const settled = await Promise.allSettled(runs);
    const failure = settled.find((s) => s.status === 'rejected');
    if (failure) {
      await Promise.allSettled(
        settled.map((s) => (s.status === 'fulfilled' ? this.release(s.value) : undefined)),
      );
      throw failure.reason;
    }
    return settled.map((s) => (s as PromiseFulfilledResult<TaskResult<F>>).value);
  }

  private async run(task: Task, args: readonly unknown[]): Promise<unknown> {
    const keys: ConnectorKey[] = [];
    let late: Promise<LateOutcome> | undefined;
    try {
      const staged = this.proxyInputs(args, keys);
      const tracked = staged.catch(() => {}).finally(() => this.staging.delete(tracked));
      this.staging.add(tracked);
      const sent = await staged;
      if (this.cancelRequested) {
        throw new TaskCancelledError(
          'StoreExecutor shut down with cancelPending before this task started.',
        );
      }
      const result = await this.executor.execute({
        task,
        args: sent,
        ...(this.resultPolicy ? { result: this.resultPolicy } : {}),
      });
      const { value, made, refs } = await this.finishResult(result, keys, sent);
      // Inputs the result still references (returned as they are, or anywhere inside it) are
      // handed to the caller with it instead of being evicted under the caller's feet.
      const inputs: ConnectorKey[] = [];
      for (let i = keys.length - 1; i >= 0; i--) {
        if (refs.has(keyId(keys[i]!))) inputs.push(...keys.splice(i, 1));
      }
      if (typeof value === 'object' && value !== null && (made || inputs.length > 0))
        this.handedOver.set(value, { made, inputs });
      return value;
    } catch (error) {
      late = lateOutcome(error);
      throw error;
    } finally {
      // Inputs we proxied belong to this task alone: drop them however it ended. A task that
      // timed out but may still be running keeps them until it really ends.
      if (late) this.cleanUpLate(late, keys);
      else await Promise.allSettled(keys.map((key) => this.store.evict(key)));
    }
  }

  /**
   * After a task its caller stopped waiting for has really ended (or its executor stopped
   * watching it): evicts its inputs, and a result proxy the worker made that nobody will read.
   */
  private cleanUpLate(late: Promise<LateOutcome>, keys: readonly ConnectorKey[]): void {
    const cleanup = late.then(async (outcome) => {
      const orphans = [...keys];
      if (outcome.ended && workerProxiedRefs(outcome.value) !== undefined) {
        const key = storeKeyOf(outcome.value);
        if (key !== undefined && this.isOurs(outcome.value)) orphans.push(key);
      }
      await Promise.allSettled(orphans.map((key) => this.store.evict(key)));
    });
    const tracked: Promise<void> = cleanup
      .catch(() => {})
      .finally(() => this.lateCleanups.delete(tracked));
    this.lateCleanups.add(tracked);
  }

  private async proxyInputs(args: readonly unknown[], keys: ConnectorKey[]): Promise<unknown[]> {
    const selected = args.map((arg) => proxiable(arg) && this.shouldProxy(arg));
    const limit = this.executor.maxInlineBytes;
    // Bytes of each argument still going by value (0 once selected or when it cannot be proxied).
    const sizes = args.map((arg, i) =>
      limit === undefined || selected[i] || !proxiable(arg) ? 0 : estimateSize(arg),
    );
    const proxyOne = async (arg: unknown): Promise<unknown> => {
      const proxy = await this.store.proxy(arg);
      keys.push(storeKeyOf(proxy)!);
      return proxy;
    };
    const selectLargest = (): number | undefined => {
      const largest = sizes.indexOf(Math.max(...sizes));
      if (largest < 0 || sizes[largest] === 0) return undefined;
      selected[largest] = true;
      sizes[largest] = 0;
      return largest;
    };
    if (limit !== undefined) {
      // The executor carries only so many bytes by value. The contents alone (no framing) are
      // a cheap first cut that never serializes a large argument: proxy the largest ones.
      let total = sizes.reduce((a, b) => a + b, 0);
      while (total > limit) {
        const before = sizes[sizes.indexOf(Math.max(...sizes))] ?? 0;
        if (selectLargest() === undefined) break;
        total -= before;
      }
    }
    // allSettled, not all: when one argument fails to store, the others still being written
    // must land in `keys` before the caller evicts them, or they would stay in the store.
    const settled = await Promise.allSettled(
      args.map((arg, i) => (selected[i] ? proxyOne(arg) : arg)),
    );
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const sent = settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
    if (limit !== undefined) {
      // Then the real payload, framing and proxies included, exactly as the executor will
      // measure it: proxy the next largest argument until it fits (or nothing is left to proxy).
      while (serialize(sent).byteLength > limit) {
        const next = selectLargest();
        if (next === undefined) break;
        sent[next] = await proxyOne(args[next]);
      }
    }
    return sent;
  }

  private isOurs(proxy: unknown): boolean {
    const factory = getFactory(proxy);
    return factory instanceof StoreFactory && factory.storeConfig.name === this.store.name;
  }

  /** A proxy of our store for a result proxy decoded here, so no second store is built. */
  private rebind(proxy: unknown): unknown {
    const key = storeKeyOf(proxy);
    // Rebind to our store: a factory decoded here would otherwise build (and register) a
    // second store from the config it carries.
    if (key === undefined || !this.isOurs(proxy)) return proxy;
    const { evict } = getFactory(proxy) as StoreFactory;
    return this.store.proxyFromKey(key, { shape: proxyState(proxy)!.shape, evict });
  }

  /**
   * The result as the caller gets it; `made`: the result proxy is this executor's (so owned
   * when `ownership` is on); `refs`: ids of the store keys the result references.
   */
  private async finishResult(
    decoded: unknown,
    inputs: readonly ConnectorKey[],
    sent: readonly unknown[],
  ): Promise<{ value: unknown; made: boolean; refs: Set<string> }> {
    const own = (proxy: unknown) => (this.ownership ? takeOwnership(proxy) : proxy);
    const workerRefs = workerProxiedRefs(decoded);
    if (workerRefs !== undefined) {
      // Made by the worker's result proxying for this task: ours to hand over.
      return { value: own(this.rebind(decoded)), made: true, refs: new Set(workerRefs) };
    }
    const inputIds = new Set(inputs.map(keyId));
    let result = decoded;
    if (!this.executor.inProcess) {
      // Proxies decoded here are copies. One the caller (or we) sent comes back as the very
      // object that was sent; any other of our store is bound to it, so none of them builds
      // and registers a second store when used.
      const sentById = new Map<string, unknown>();
      for (const arg of sent) {
        const key = storeKeyOf(arg);
        if (key !== undefined && !inputIds.has(keyId(key))) sentById.set(keyId(key), arg);
      }
      result = swapProxies(decoded, (proxy) => {
        const key = storeKeyOf(proxy);
        const original = key === undefined ? undefined : sentById.get(keyId(key));
        return original ?? this.rebind(proxy);
      });
    }
    if (isProxy(result)) {
      const key = storeKeyOf(result);
      const id = key === undefined ? undefined : keyId(key);
      const refs = new Set(id === undefined ? [] : [id]);
      if (id !== undefined && inputIds.has(id)) {
        // An input we proxied, returned as it was: its data becomes the result.
        return { value: own(this.ownership ? this.rebind(result) : result), made: true, refs };
      }
      // A proxy the caller passed in (or the task made): not ours, passed through untouched.
      return { value: result, made: false, refs };
    }
    // Only worth walking the result when it could reference an input we proxied.
    const refs = inputs.length > 0 ? proxyKeyIds(result) : new Set<string>();
    const appliedRemotely = this.resultPolicy?.policy !== undefined;
    if (appliedRemotely || !proxiable(result) || !this.shouldProxy(result))
      return { value: result, made: false, refs };
    return { value: own(await this.store.proxy(result)), made: true, refs };
  }

  /** Frees what this executor handed over with a result nobody will receive (a failed `map`). */
  private async release(value: unknown): Promise<void> {
    const handed =
      typeof value === 'object' && value !== null ? this.handedOver.get(value) : undefined;
    if (!handed) return;
    await Promise.allSettled([
      handed.made ? releaseResult(this.store, value) : undefined,
      ...handed.inputs.map((key) => this.store.evict(key)),
    ]);
  }

  /**
   * Stops accepting tasks, then shuts the executor down (honouring `cancelPending`), waits
   * for input evictions, and closes the store when `closeStore` is on.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    const cancelPending = options.cancelPending ?? false;
    this.cancelRequested ||= cancelPending;
    // Tasks still proxying their inputs were submitted before shutdown: let them reach the
    // executor (or be cancelled) before it stops accepting.
    const staged = Promise.allSettled([...this.staging]);
    const stopping = staged.then(() => this.executor.shutdown({ wait: false, cancelPending }));
    this.closing ??= (async () => {
      await stopping;
      await this.executor.shutdown({ wait: true });
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      // The executor has shut down, so every timed-out task has ended or been let go.
      while (this.lateCleanups.size > 0) await Promise.allSettled([...this.lateCleanups]);
      if (this.closeStore) await this.store.close();
    })();
    await stopping;
    if (options.wait ?? true) await this.closing;
    else this.closing.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }
}
