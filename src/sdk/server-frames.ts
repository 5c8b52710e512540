// What a server sends a client, validated right after JSON.parse (STYLE.md #2; own properties
// only, src/protocol/json.ts). Shapes: docs/protocol.md §2.2–§2.3, §3.3–§3.5, §5.1.
// Frames of a kind this SDK does not know are reported as 'unknown' and ignored by the client:
// everything added to the protocol is additive, so a newer server must not break an older client.
import { isObject, own, type JsonObject } from '../protocol/json.ts';

/** The answer to one sent message (§3.3), or to the login (§2.2, id "auth_special"). */
export interface StatusReport {
  readonly id: string;
  readonly status: 'good' | 'bad';
  /** Why a `bad` report is bad (§7); absent on `good` and from an original daemon. */
  readonly code?: string;
  readonly reason?: string;
  /** Recipients of `sendClients` that were not connected (§4.3.1). */
  readonly undelivered?: readonly string[];
  /** Recipients of `sendClients` who were offline: the server keeps it for their next login (§4.3.1). */
  readonly stored?: readonly string[];
  /** The frame as the server sent it. */
  readonly raw: JsonObject;
}

/** A handler's result delivered to this user (§3.4). */
export interface Delivery {
  readonly type: string;
  readonly data: unknown;
}

export type ServerFrame =
  | { readonly kind: 'status'; readonly report: StatusReport }
  | { readonly kind: 'delivery'; readonly delivery: Delivery }
  | { readonly kind: 'error'; readonly code: string; readonly reason: string; readonly raw: JsonObject }
  /** The server checks the connection is alive (§5.3); the SDK answers with a `pong` message. */
  | { readonly kind: 'ping'; readonly id: string }
  | { readonly kind: 'unknown'; readonly raw: JsonObject };

export type ReadFrame = { readonly ok: true; readonly frame: ServerFrame } | { readonly ok: false; readonly reason: string };

function fail(reason: string): ReadFrame {
  return { ok: false, reason };
}

function optionalString(obj: JsonObject, key: string): string | undefined {
  const value = own(obj, key);
  return typeof value === 'string' ? value : undefined;
}

function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const list: unknown[] = value;
  return list.every((v): v is string => typeof v === 'string') ? list : undefined;
}

function statusReport(raw: JsonObject, header: JsonObject, payload: JsonObject): ReadFrame {
  const id = own(payload, 'id');
  const status = own(header, 'status');
  if (typeof id !== 'string') return fail('a status report without a string "payload.id"');
  if (status !== 'good' && status !== 'bad') return fail(`a status report with status ${JSON.stringify(status)}`);
  const code = optionalString(header, 'code');
  const reason = optionalString(header, 'reason');
  const undelivered = stringList(own(header, 'undelivered'));
  const stored = stringList(own(header, 'stored'));
  const report: StatusReport = {
    id,
    status,
    ...(code !== undefined ? { code } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(undelivered !== undefined ? { undelivered } : {}),
    ...(stored !== undefined ? { stored } : {}),
    raw,
  };
  return { ok: true, frame: { kind: 'status', report } };
}

/** Classifies one parsed frame from a server. Only a frame that is not even an envelope is refused. */
export function readServerFrame(value: unknown): ReadFrame {
  if (!isObject(value)) return fail('a frame that is not a JSON object');
  const header = own(value, 'header');
  const payload = own(value, 'payload');
  if (!isObject(header)) return fail('a frame without a "header" object');
  if (!isObject(payload)) return fail('a frame without a "payload" object');
  switch (own(header, 'messageType')) {
    case 'statusReport':
      return statusReport(value, header, payload);
    case 'receivedMessage': {
      const type = own(payload, 'type');
      if (typeof type !== 'string') return fail('a delivery without a string "payload.type"');
      // `data` is any JSON; a delivery without it carries null.
      return { ok: true, frame: { kind: 'delivery', delivery: { type, data: own(payload, 'data') ?? null } } };
    }
    case 'ping': {
      const id = own(payload, 'id');
      if (typeof id !== 'string') return { ok: true, frame: { kind: 'unknown', raw: value } };
      return { ok: true, frame: { kind: 'ping', id } };
    }
    case 'error': {
      const code = optionalString(header, 'code') ?? 'internal_error';
      const reason = optionalString(header, 'reason') ?? `the server reported ${code}`;
      return { ok: true, frame: { kind: 'error', code, reason, raw: value } };
    }
    case undefined: {
      // §5.1: the `dummy` answer, exactly as the original sent it: status "0", no messageType.
      const id = own(payload, 'id');
      if (own(header, 'status') === '0' && own(payload, 'type') === 'dummy' && typeof id === 'string') {
        return { ok: true, frame: { kind: 'status', report: { id, status: 'good', raw: value } } };
      }
      return { ok: true, frame: { kind: 'unknown', raw: value } };
    }
    default:
      return { ok: true, frame: { kind: 'unknown', raw: value } };
  }
}
