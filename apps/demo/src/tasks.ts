// Task modules for the executor step: they run in worker threads and child processes.
export function concat(base: string, num: number): string {
  return `${base}-${num}`;
}

export function byteLength(data: Uint8Array): number {
  return data.byteLength;
}
