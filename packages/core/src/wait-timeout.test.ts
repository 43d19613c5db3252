import { checkWaitTimeout, longTimeout } from './wait-timeout.js';

test('checkWaitTimeout: absent, zero, finite and Infinity pass; negative, NaN and non-numbers are a TypeError naming the caller', () => {
  for (const ok of [undefined, 0, 1.5, 2 ** 40, Number.POSITIVE_INFINITY]) {
    expect(() => checkWaitTimeout('X', ok)).not.toThrow();
  }
  for (const bad of [-1, Number.NaN, '5', null]) {
    expect(() => checkWaitTimeout('XConnector', bad)).toThrow(
      new TypeError(`XConnector: waitFor timeoutMs must be a number >= 0; got ${String(bad)}`),
    );
  }
});

test('longTimeout fires once, at the delay, past the 2^31 - 1 ms timer limit; Infinity never fires; clear stops it', async () => {
  jest.useFakeTimers();
  try {
    const fired: string[] = [];
    longTimeout(() => fired.push('long'), 2 ** 31 + 5000);
    longTimeout(() => fired.push('never'), Number.POSITIVE_INFINITY);
    const cleared = longTimeout(() => fired.push('cleared'), 2 ** 32);
    await jest.advanceTimersByTimeAsync(2 ** 31 + 4999);
    expect(fired).toEqual([]);
    cleared.clear();
    await jest.advanceTimersByTimeAsync(1);
    expect(fired).toEqual(['long']);
    await jest.advanceTimersByTimeAsync(2 ** 33);
    expect(fired).toEqual(['long']);
  } finally {
    jest.useRealTimers();
  }
});
