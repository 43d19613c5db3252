import type { StoreConfig } from '@proxy/core';
import { deserialize, type ErrorData, errorFromData, serialize } from '@proxy/core';
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

/** The caller's side of an outcome: the decoded value, or the worker's error thrown. */
export function fromOutcome<R>(outcome: Outcome): R {
  if (outcome.ok) return deserialize(outcome.value) as R;
  throw errorFromData(outcome.error);
}
