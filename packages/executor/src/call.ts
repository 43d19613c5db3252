import type { StoreConfig } from '@proxy/core';
import {
  deserialize,
  type ErrorData,
  errorFromData,
  isProxy,
  registerSerializable,
  SerializationError,
  serialize,
} from '@proxy/core';
import type { PolicyData } from './policy.js';
import { isTaskRef, type Task, type TaskRef } from './task.js';

/** How the worker treats the result it produces: proxy it into this store when the policy says so. */
export interface ResultPolicy {
  store: StoreConfig;
  /** Absent when the caller's policy cannot travel (a plain function): the caller applies it. */
  policy?: PolicyData;
}

/** A task submitted to an executor, as the caller holds it. */
export interface TaskRequest {
  task: Task;
  args: readonly unknown[];
  result?: ResultPolicy;
}

/**
 * A task as it crosses to a worker. Arguments are core-serialized bytes: proxies inside are
 * written as their factories (a proxy cannot be structured-cloned), and everything else keeps
 * the types the core serializer keeps (Map, Set, Date, BigInt, typed arrays, Buffers).
 */
export interface TaskCall {
  module: string;
  export: string;
  args: Uint8Array;
  result?: ResultPolicy;
  /** A result larger than this is proxied into `result.store` (or refused when there is none). */
  maxResultBytes?: number;
}

/** An error as plain data: what a worker sends back when its task throws. */
export type RemoteErrorData = ErrorData;

export type Outcome = { ok: true; value: Uint8Array } | { ok: false; error: RemoteErrorData };

export function toCall(request: TaskRequest, maxResultBytes?: number): TaskCall {
  if (!isTaskRef(request.task)) {
    throw new TypeError(
      `A plain function (${request.task.name || 'anonymous'}) cannot run in another thread or process; export it from a module and pass task(moduleUrlOrPath, exportName).`,
    );
  }
  const ref: TaskRef = request.task;
  return {
    module: ref.module,
    export: ref.export,
    args: serialize([...request.args]),
    ...(request.result ? { result: request.result } : {}),
    ...(maxResultBytes !== undefined ? { maxResultBytes } : {}),
  };
}

/**
 * What a worker sends back when it proxied the result itself (the result policy selected it,
 * or it was too large to return by value): the proxy, and the ids of the store keys of the
 * proxies inside the value it stored (the task's inputs it returned, say).
 */
export class WorkerProxiedResult {
  constructor(
    readonly proxy: unknown,
    readonly refs: readonly string[],
  ) {}
}

registerSerializable<WorkerProxiedResult>({
  Class: WorkerProxiedResult,
  tag: 41_150,
  encode: (result) => [result.proxy, [...result.refs]],
  decode: (data) => {
    if (
      !Array.isArray(data) ||
      !Array.isArray(data[1]) ||
      data[1].some((r) => typeof r !== 'string')
    )
      throw new SerializationError('Malformed worker result in serialized data');
    return new WorkerProxiedResult(data[0], data[1] as string[]);
  },
});

/** Results a worker proxied itself (decoded in this process) → the key ids they reference. */
const proxiedByWorker = new WeakMap<object, readonly string[]>();

/**
 * For a result proxy decoded here that a worker's result proxying made (never one the task
 * returned as it was): the key ids of the proxies inside the stored value. Undefined otherwise.
 */
export function workerProxiedRefs(value: unknown): readonly string[] | undefined {
  return typeof value === 'object' && value !== null ? proxiedByWorker.get(value) : undefined;
}

/** Decodes a result a worker encoded; a result it proxied itself is remembered as such. */
export function decodeResult(bytes: Uint8Array): unknown {
  const value = deserialize(bytes);
  // `instanceof` on a proxy would resolve it: ask `isProxy` first.
  if (isProxy(value) || !(value instanceof WorkerProxiedResult)) return value;
  if (typeof value.proxy === 'object' && value.proxy !== null)
    proxiedByWorker.set(value.proxy, value.refs);
  return value.proxy;
}

/** The caller's side of an outcome: the decoded value, or the worker's error thrown. */
export function fromOutcome<R>(outcome: Outcome): R {
  if (outcome.ok) return decodeResult(outcome.value) as R;
  throw errorFromData(outcome.error);
}
