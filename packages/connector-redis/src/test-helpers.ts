import type { Redis } from 'ioredis';

/** A numeric field of `INFO <section>`. */
export async function infoField(client: Redis, section: string, field: string): Promise<number> {
  const info = await client.info(section);
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  if (!match) throw new Error(`INFO ${section} has no ${field}`);
  return Number(match[1]);
}

/** Resolves once `probe` holds, checking every 10 ms; rejects after `timeoutMs`. */
export async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
