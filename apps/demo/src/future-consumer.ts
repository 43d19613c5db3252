// Receives a future's proxy and uses it at once: the first use blocks until the parent sets it.
import { deserialize, isResolved } from '@proxy/core';
import '@proxy/future';

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const [result] = deserialize(Buffer.from(Buffer.concat(chunks).toString(), 'base64')) as [
    { answer: number; at: number },
  ];
  console.log(
    `[child ${process.pid}] has the proxy (isResolved=${isResolved(result)}), waiting on first use…`,
  );
  const answer = result.answer;
  console.log(
    `[child ${process.pid}] answer=${answer}, woke ${Date.now() - result.at} ms after setResult`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
