import { spawn } from 'node:child_process';
import path from 'node:path';
import { type Store, serialize } from '@proxy/core';
import { Future } from '@proxy/future';

/** A consumer process starts first and blocks on a future's proxy until the producer sets it. */
export async function futureStep(store: Store, here: string): Promise<void> {
  console.log(`\n── 5. A future: the consumer starts before the value exists ${'─'.repeat(13)}`);
  const future = await Future.create<{ answer: number; at: number }>(store);
  const consumer = spawn(process.execPath, [path.join(here, 'future-consumer.js')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  consumer.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    process.stdout.write(chunk);
  });
  const ready = new Promise<void>((resolve) => {
    const check = () => (out.includes('waiting') ? resolve() : consumer.stdout.once('data', check));
    check();
  });
  consumer.stdin.end(Buffer.from(serialize([future.proxy()])).toString('base64'));
  await ready;
  await new Promise((r) => setTimeout(r, 300));
  console.log('[parent] computing done, setResult({ answer: 42 })');
  await future.setResult({ answer: 42, at: Date.now() });
  const code = await new Promise<number | null>((resolve) => consumer.once('exit', resolve));
  if (code !== 0) throw new Error(`future consumer exited with ${code}`);
}
