/**
 * Decides what a test does when a real service (a binary, a server package) is missing:
 * under CI (`CI=true`) that is a failure; elsewhere the tests are skipped with a printed reason.
 * Returns true when the service is available.
 */
export function requireService(name: string, available: boolean, howToInstall: string): boolean {
  if (available) return true;
  const message = `${name} is not available: ${howToInstall}`;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(`[CI] ${message}. In CI a missing service is a failure.`);
  }
  console.warn(`Skipping tests that need ${name}: ${message}`);
  return false;
}

/**
 * `describe` when the service is available, a skipped `describe` (with the reason printed)
 * outside CI when it is not, and a thrown error under CI.
 */
export function describeWithService(
  name: string,
  available: boolean,
  howToInstall: string,
  title: string,
  body: () => void,
): void {
  const run = requireService(name, available, howToInstall);
  const block = run ? describe : describe.skip;
  block(title, body);
}
