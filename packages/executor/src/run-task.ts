import { deserialize, errorToData, getOrCreateStore, isProxy, serialize } from '@proxy/core';
import { type Outcome, type TaskCall, WorkerProxiedResult } from './call.js';
import { PayloadTooLargeError } from './errors.js';
import { loadTask } from './load-task.js';
import { proxyKeyIds } from './ownership.js';
import { estimateSize, policyFromData } from './policy.js';

async function encodeResult(call: TaskCall, result: unknown): Promise<Uint8Array> {
  if (isProxy(result) || result === null || result === undefined || typeof result === 'boolean')
    return serialize(result);
  const policy = call.result?.policy ? policyFromData(call.result.policy) : undefined;
  const tooLarge = call.maxResultBytes !== undefined && estimateSize(result) > call.maxResultBytes;
  if (policy?.(result) || tooLarge) {
    if (!call.result) {
      throw new PayloadTooLargeError(
        `Task ${call.export} (${call.module}) returned ${estimateSize(result)} bytes, more than the ${call.maxResultBytes} this executor carries by value; run it through a StoreExecutor so the result is proxied.`,
      );
    }
    // A plain (not owned) proxy: the caller takes ownership, so this worker never evicts it.
    // Marked as made here, with the proxies it holds, so the caller owns only what we made
    // and keeps the inputs the result still references.
    const store = getOrCreateStore(call.result.store);
    const proxy = await store.proxy(result, { populateTarget: false });
    return serialize(new WorkerProxiedResult(proxy, [...proxyKeyIds(result)]));
  }
  return serialize(result);
}

/**
 * Runs one task call where the worker lives: decodes the arguments (proxies come back as
 * lazy proxies), calls the exported function, and encodes the result. Never throws: a task's
 * failure is an outcome, so transport errors and task errors stay distinguishable.
 */
export async function runTask(call: TaskCall): Promise<Outcome> {
  try {
    const fn = await loadTask(call.module, call.export);
    const args = deserialize(call.args);
    if (!Array.isArray(args)) throw new TypeError('Task call arguments must serialize to an array');
    const result = await fn(...args);
    return { ok: true, value: await encodeResult(call, result) };
  } catch (error) {
    return { ok: false, error: errorToData(error) };
  }
}
