import { move } from 'piscina';
import type { TaskCall } from './call.js';
import { runTask } from './run-task.js';
import type { WireOutcome } from './worker-pool-executor.js';

/** Piscina's handler in each worker thread. */
export default async function handle(call: TaskCall): Promise<WireOutcome> {
  const outcome = await runTask(call);
  if (!outcome.ok) return { error: outcome.error };
  const bytes = outcome.value;
  const owns = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return move(owns ? bytes : Uint8Array.from(bytes)) as Uint8Array;
}
