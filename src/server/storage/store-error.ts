// The errors every store, queue, presence and bus implementation gives, whatever its backend:
// a BesterError 'store_error' for a failure or a use after close(); the caller never sees a
// backend's own error type (it is kept as the cause).
import { BesterError } from '../../protocol/errors.ts';

/** The error for any call on a store after its close(). */
export function closedError(what: string): BesterError {
  return new BesterError('store_error', `the ${what} is closed`);
}

/** Wraps a backend failure; a BesterError (e.g. recipient_queue_full) passes through unchanged. */
export function storeError(what: string, cause: unknown): BesterError {
  if (cause instanceof BesterError) return cause;
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new BesterError('store_error', `${what}${detail}`, { cause });
}
