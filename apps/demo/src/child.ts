// Runs in a separate process: receives a serialized proxy on stdin and uses it. No store is
// registered here; the proxy's factory rebuilds the FileConnector store from its config.
import { deserialize, getStore, isResolved } from '@proxy/core';

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const data = deserialize(Buffer.from(Buffer.concat(chunks).toString(), 'base64')) as {
    name: string;
    readings: Float64Array;
  };
  console.log(
    `[child ${process.pid}] got a proxy, isResolved=${isResolved(data)}, stores registered: ${getStore('demo') ? 1 : 0}`,
  );
  let max = -Infinity;
  for (const r of data.readings) max = Math.max(max, r);
  console.log(
    `[child ${process.pid}] ${data.name}: ${data.readings.length} readings, max ${max.toFixed(3)}; store "demo" now registered: ${Boolean(getStore('demo'))}`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
