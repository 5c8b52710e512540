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

export interface HandlerLink {
  /**
   * One request; resolves with the reply and its text as received (the caller validates the shape).
   * Rejects only with BesterError: handler_unavailable (nobody accepts), handler_timeout,
   * handler_bad_reply (unreadable, oversize, or the connection closed without the reply; also calls
   * still waiting when the link is closed), shutting_down (options.signal aborted).
   */
  call(input: JsonData, options: LinkCallOptions): Promise<JsonData>;
  status(): HandlerProtocolStatus;
  /** Every call still waiting settles (handler_bad_reply); later calls get handler_unavailable. Idempotent. */
  close(): void;
}

/** What a closed link answers to a new call. */
export function linkClosed(socketPath: string): BesterError {
  return new BesterError('handler_unavailable', `handler socket ${socketPath}: the daemon no longer calls this handler process`);
}
