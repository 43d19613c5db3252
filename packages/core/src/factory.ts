import { ProxyStoreError, SerializationError } from './errors.js';

/** What a factory writes when its proxy crosses a process boundary. Plain data. */
export interface FactoryData {
  type: string;
  [field: string]: unknown;
}

/** Knows how to produce a proxy's target. */
export interface Factory<T = unknown> {
  /** Produces the target synchronously (first use of an unresolved proxy). */
  resolve(): T;
  /** Produces the target without blocking the event loop. */
  resolveAsync(): Promise<T>;
  /** The data that rebuilds this factory in another process; absent for in-process-only factories. */
  toData?(): FactoryData;
}

type FactoryReviver = (data: FactoryData) => Factory;
const revivers = new Map<string, FactoryReviver>();

/** Makes a factory type deserializable in this process. */
export function registerFactoryType(type: string, reviver: FactoryReviver): void {
  revivers.set(type, reviver);
}

export function factoryFromData(data: unknown): Factory {
  if (typeof data !== 'object' || data === null || typeof (data as FactoryData).type !== 'string') {
    throw new SerializationError(`Malformed proxy factory data: ${JSON.stringify(data)}`);
  }
  const reviver = revivers.get((data as FactoryData).type);
  if (!reviver) {
    throw new SerializationError(
      `Unknown proxy factory type "${(data as FactoryData).type}": import the package that defines it before deserializing.`,
    );
  }
  return reviver(data as FactoryData);
}

export function factoryToData(factory: Factory): FactoryData {
  if (typeof factory.toData !== 'function') {
    throw new SerializationError(
      `${factory.constructor?.name ?? 'This factory'} cannot cross a process boundary (it has no toData()); proxy the object through a Store instead.`,
    );
  }
  return factory.toData();
}

/** A factory that already holds its object. Serializes the object itself when the proxy is serialized. */
export class SimpleFactory<T> implements Factory<T> {
  constructor(readonly value: T) {}
  resolve(): T {
    return this.value;
  }
  async resolveAsync(): Promise<T> {
    return this.value;
  }
  toData(): FactoryData {
    return { type: 'simple', value: this.value };
  }
}
registerFactoryType('simple', (data) => new SimpleFactory(data.value));

/** A factory that calls a function. In-process only: functions do not cross processes. */
export class LambdaFactory<T> implements Factory<T> {
  constructor(
    readonly fn: () => T | Promise<T>,
    readonly asyncFn?: () => Promise<T>,
  ) {}
  resolve(): T {
    const value = this.fn();
    if (value instanceof Promise) {
      throw new ProxyStoreError(
        'LambdaFactory function returned a Promise during a synchronous resolve; use `await resolve(proxy)` or return the value directly.',
      );
    }
    return value;
  }
  async resolveAsync(): Promise<T> {
    return this.asyncFn ? this.asyncFn() : this.fn();
  }
}
