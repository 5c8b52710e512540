// Frames the server sends, in the original's shapes (docs/protocol.md §3.3, §3.4, §5).
// Our additions are extra header fields only: `reason`, `code`, and the lists on partial delivery.
import type { ErrorCode } from './errors.ts';
import { jsonTextOf } from './json-text.ts';

/** The id of the status report that answers a login (§2.2). */
export const AUTH_ID = 'auth_special';

export interface StatusExtra {
  readonly code?: ErrorCode;
  readonly reason?: string;
  readonly undelivered?: readonly string[];
  /** sendServers: per target, "delivered" (the peer acknowledged) or "queued" (kept durably). */
  readonly servers?: Readonly<Record<string, string>>;
  /** sendClients: recipients offline whose delivery is kept for their next login (docs/protocol.md §4.3.1). */
  readonly stored?: readonly string[];
}

export function statusReport(id: string, good: boolean, extra?: StatusExtra): object {
  const header: Record<string, unknown> = { status: good ? 'good' : 'bad', messageType: 'statusReport' };
  if (extra?.code !== undefined) header.code = extra.code;
  if (extra?.reason !== undefined) header.reason = extra.reason;
  if (extra?.undelivered !== undefined) header.undelivered = extra.undelivered;
  if (extra?.servers !== undefined) header.servers = extra.servers;
  if (extra?.stored !== undefined) header.stored = extra.stored;
  return { header, payload: { id } };
}

/** goodReportJson's text before the id, and after it (frame-pieces.ts writes them as bytes). */
export const GOOD_REPORT_HEAD = '{"header":{"status":"good","messageType":"statusReport"},"payload":{"id":';
export const GOOD_REPORT_END = '}}';

/**
 * statusReport(id, true) as its JSON text, the same bytes JSON.stringify gives for it, written
 * without building the object and serialising it (the answer to nearly every message).
 */
export function goodReportJson(id: string): string {
  return `${GOOD_REPORT_HEAD}${JSON.stringify(id)}${GOOD_REPORT_END}`;
}

/**
 * §3.4: a handler's result delivered to a recipient, as JSON text:
 * `{"header":{"messageType":"receivedMessage"},"payload":{"data":…,"type":…}}`. `dataJson`, the
 * JSON text of `data` when known, is spliced in as it is instead of serialising `data`. Throws if
 * `data` has to be serialised and cannot be.
 */
export function deliveryJson(type: string, data: unknown, dataJson?: string): string {
  return `${DELIVERY_HEAD}${jsonTextOf(data, dataJson)}${deliveryTail(type)}`;
}

/** The text of every delivery before its data (deliveryJson; frame-pieces.ts deliveryPieces). */
export const DELIVERY_HEAD = '{"header":{"messageType":"receivedMessage"},"payload":{"data":';

/** The last type's tail: a daemon's deliveries are mostly of a few types, often one after another of the same. */
let lastType = '';
let lastTail = ',"type":""}}';

/** The text of a delivery of `type` after its data. */
export function deliveryTail(type: string): string {
  if (type !== lastType) {
    lastTail = `,"type":${JSON.stringify(type)}}}`;
    lastType = type;
  }
  return lastTail;
}

/** Ours (§5.3): the server asks a quiet client whether it is still there; it answers with a `pong` message. */
export function pingFrame(id: string): object {
  return { header: { messageType: 'ping' }, payload: { id } };
}

/** §5.1: the built-in `dummy` type's answer, exactly as the original sent it. */
export function dummyReply(id: string): object {
  return { header: { status: '0' }, payload: { data: null, type: 'dummy', id } };
}

/**
 * Ours (§3.5): a fatal error where no message id is known (bad frame, bad JSON).
 * The connection is closed right after it.
 */
export function errorFrame(code: ErrorCode, reason: string): object {
  return { header: { status: 'bad', messageType: 'error', code, reason, fatal: true }, payload: { id: null } };
}
