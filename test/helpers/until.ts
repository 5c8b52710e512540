// Waiting for a condition in a test: polled, bounded, and failing with what was awaited.
import assert from 'node:assert/strict';

/** Polls `check` every 50 ms until it holds; fails naming `what` (and `detail()`) after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms\n${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
