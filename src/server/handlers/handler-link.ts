// One contract for every way the daemon talks to a handler (design.md "Handler links"): the
// original way (original-link.ts), multiplex/1 (multiplex-link.ts), and "auto", which finds out
// per handler process (auto-link.ts). test/contract/handler-link.contract.ts runs against all three.
import { BesterError } from '../../protocol/errors.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import type { HandlerCallOptions } from './handler-call.ts';

export type LinkCallOptions = HandlerCallOptions;

/** What the daemon uses with a handler process now (docs/protocol.md §9.4.3, `handlers`). */
export interface HandlerProtocolStatus {
  /** "unknown": "auto" mode, and no call has found out yet since the handler (re)started (§4.5.1). */
  readonly protocol: 'original' | 'multiplex' | 'unknown';
  /** Open multiplex/1 connections (0 for a handler called the original way). */
  readonly connections: number;
}

/**
 * Told how one call ended, exactly once: `reply` with the reply and its text, or `fail` with a
 * BesterError (the codes of HandlerLink.call). Either may come before `send` returns (a link that is
 * closed, a signal already aborted). The message path's callback form of a call: one object per
 * message receives it, where a promise would cost an allocation and a microtask per layer.
 */
export interface CallReceiver {
  reply(reply: JsonData): void;
  fail(err: BesterError): void;
}

export interface HandlerLink {
  /**
   * One request; resolves with the reply and its text as received (the caller validates the shape).
   * Rejects only with BesterError: handler_unavailable (nobody accepts), handler_timeout,
   * handler_bad_reply (unreadable, oversize, or the connection closed without the reply; also calls
   * still waiting when the link is closed), shutting_down (options.signal aborted).
   */
  call(input: JsonData, options: LinkCallOptions): Promise<JsonData>;
  /** The same call, its end told to `receiver` (CallReceiver) instead of a promise. */
  send(input: JsonData, options: LinkCallOptions, receiver: CallReceiver): void;
  status(): HandlerProtocolStatus;
  /** Every call still waiting settles (handler_bad_reply); later calls get handler_unavailable. Idempotent. */
  close(): void;
}

/** What a closed link answers to a new call. */
export function linkClosed(socketPath: string): BesterError {
  return new BesterError('handler_unavailable', `handler socket ${socketPath}: the daemon no longer calls this handler process`);
}

/** What a link tells a caller for something thrown: a BesterError as it is, anything else as internal_error. */
export function linkError(err: unknown): BesterError {
  return err instanceof BesterError ? err : new BesterError('internal_error', String(err), { cause: err });
}

/** A call made as a promise, told to a receiver (auto-link.ts while it finds out a handler's protocol). */
export function tellWhenSettled(call: Promise<JsonData>, receiver: CallReceiver): void {
  call.then(
    (reply) => receiver.reply(reply),
    (err: unknown) => receiver.fail(linkError(err)),
  );
}

/** The promise form of a call made in the receiver form (`send` calls it with the receiver). */
export function callBySend(send: (receiver: CallReceiver) => void): Promise<JsonData> {
  return new Promise<JsonData>((resolve, reject) => send({ reply: resolve, fail: reject }));
}

/**
 * The abort signals of a link's calls, listened for once per distinct signal (in the daemon: the
 * one shutdown signal) rather than once per call: an AbortSignal keeps its listeners in a list that
 * every add and remove walks, so a listener per call would cost each call in proportion to the
 * calls in flight. `onAbort` is told which signal fired and ends the calls that carried it.
 */
export class AbortWatch {
  readonly #onAbort: (signal: AbortSignal) => void;
  readonly #listeners = new Map<AbortSignal, () => void>();
  /** The signal watched last, while it is listened for: every call carries the same one, found without a lookup. */
  #last: AbortSignal | null = null;

  constructor(onAbort: (signal: AbortSignal) => void) {
    this.#onAbort = onAbort;
  }

  /** Listens for `signal`, unless it already does. */
  watch(signal: AbortSignal): void {
    if (signal === this.#last || this.#listeners.has(signal)) return;
    const listener = (): void => {
      this.#listeners.delete(signal);
      if (this.#last === signal) this.#last = null;
      this.#onAbort(signal);
    };
    this.#listeners.set(signal, listener);
    this.#last = signal;
    signal.addEventListener('abort', listener, { once: true });
  }

  /** Stops listening for every signal (the link is closed). */
  clear(): void {
    for (const [signal, listener] of this.#listeners) signal.removeEventListener('abort', listener);
    this.#listeners.clear();
    this.#last = null;
  }
}
