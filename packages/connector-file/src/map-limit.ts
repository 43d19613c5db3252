/**
 * `Promise.all(items.map(fn))` with at most `limit` calls in flight, results in input order.
 * Bounds open file descriptors when a batch holds thousands of objects.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  if (items.length <= limit) return Promise.all(items.map(fn));
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: limit }, lane));
  return out;
}
