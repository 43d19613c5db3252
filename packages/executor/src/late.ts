/**
 * How a task that its caller stopped waiting for (a timeout) really ended, as far as the
 * executor could learn: `value` is the result nobody will read (decoded, so a proxy the
 * worker made is recognisable), `ended: false` when the executor gave up watching (shut down).
 */
export type LateOutcome = { ended: true; value?: unknown } | { ended: false };

const stillRunning = new WeakMap<object, Promise<LateOutcome>>();

/** Marks `error` (rejecting a task) as given while the task may still run; `late` says when it ended. */
export function markStillRunning(error: object, late: Promise<LateOutcome>): void {
  stillRunning.set(error, late);
}

/** For an error from an executor: the task may still be running; resolves when it has ended. */
export function lateOutcome(error: unknown): Promise<LateOutcome> | undefined {
  return typeof error === 'object' && error !== null ? stillRunning.get(error) : undefined;
}
