// Assertions shared by the contract suites: the errors every store gives (src/server/storage/store-error.ts).
import assert from 'node:assert/strict';
import { BesterError, type ErrorCode } from '../../src/protocol/errors.ts';

/** A predicate for assert.rejects: a BesterError with this code. */
export function code(expected: ErrorCode): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof BesterError, `expected a BesterError, got ${String(err)}`);
    assert.equal(err.code, expected, err.message);
    return true;
  };
}

/** Every call in `calls` rejects with store_error (each is a thunk, so a synchronous throw fails the test too). */
export async function allRejectClosed(calls: Record<string, () => Promise<unknown>>): Promise<void> {
  for (const [name, call] of Object.entries(calls)) {
    let result: Promise<unknown>;
    try {
      result = call();
    } catch (err) {
      assert.fail(`${name} threw synchronously instead of rejecting: ${String(err)}`);
    }
    await assert.rejects(result, code('store_error'), `${name} after close`);
  }
}
