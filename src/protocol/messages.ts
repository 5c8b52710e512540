// Client and server-scope messages: shapes and validation right after JSON.parse (STYLE.md #2).
// Raw parsed objects never go past this module. Rules cited are in docs/protocol.md.
import type { ErrorCode } from './errors.ts';
import { hasOwn, isObject, own } from './json.ts';

/** A message's payload (§3.2): all three fields are required. */
export interface Payload {
  readonly type: string;
  readonly id: string;
  readonly data: unknown;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** The first frame of a connection decides its scope (§2.1). */
export type FirstMessage =
  /** `features`: what the client announced in `header.features` (§2.2), e.g. "ping" (§5.3). */
  | { readonly scope: 'client'; readonly credentials: Credentials | null; readonly features: readonly string[] }
  | { readonly scope: 'server'; readonly payload: ServerPayload }
  /** Scope "server" with a `header.federation` seal: an authenticated peer link (docs/federation.md). */
  | { readonly scope: 'peer' };

/** A server-scope payload as the original sent it: `id` may be missing (§6.2). */
export interface ServerPayload {
  readonly type: string;
  readonly id: string | null;
  readonly data: unknown;
}

export interface Invalid {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly reason: string;
  /** The message id when one could be read, so the error can be a status report for it. */
  readonly id: string | null;
}

export type Validated<T> = { readonly ok: true; readonly value: T } | Invalid;

function invalid(code: ErrorCode, reason: string, id: string | null = null): Invalid {
  return { ok: false, code, reason, id };
}

function readId(payload: unknown): string | null {
  // As own(payload, 'id'), with the key in place (validateClientMessage: every message passes here).
  if (!isObject(payload) || !Object.hasOwn(payload, 'id')) return null;
  return typeof payload.id === 'string' ? payload.id : null;
}

/** §2.1: the first frame. Scope "client" carries credentials; "server" carries a payload. */
export function validateFirstMessage(value: unknown): Validated<FirstMessage> {
  if (!isObject(value)) return invalid('not_an_object', 'a message must be a JSON object');
  const header = own(value, 'header');
  if (!isObject(header)) return invalid('invalid_message', 'the first message needs a "header" object');
  const scope = own(header, 'scope');
  if (scope === 'client') {
    const features = readFeatures(own(header, 'features'));
    const auth = own(header, 'authentication');
    if (!isObject(auth)) return { ok: true, value: { scope: 'client', credentials: null, features } };
    const username = own(auth, 'username');
    const password = own(auth, 'password');
    if (typeof username !== 'string' || typeof password !== 'string') {
      return { ok: true, value: { scope: 'client', credentials: null, features } };
    }
    return { ok: true, value: { scope: 'client', credentials: { username, password }, features } };
  }
  if (scope === 'server' && isObject(own(header, 'federation'))) return { ok: true, value: { scope: 'peer' } };
  if (scope === 'server') {
    const payload = validateServerPayload(own(value, 'payload'));
    if (!payload.ok) return payload;
    return { ok: true, value: { scope: 'server', payload: payload.value } };
  }
  if (scope === undefined) return invalid('unknown_scope', 'the first message needs "header.scope": "client" or "server"');
  return invalid('unknown_scope', `unknown scope ${JSON.stringify(scope)}: expected "client" or "server"`);
}

/** §2.2 [ours]: `header.features`, a list of names; anything else in it is ignored. At most 32 are read. */
function readFeatures(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const list: unknown[] = value;
  return list.slice(0, 32).filter((item): item is string => typeof item === 'string');
}

function validateServerPayload(payload: unknown): Validated<ServerPayload> {
  if (!isObject(payload)) return invalid('invalid_message', 'a server message needs a "payload" object');
  const type = own(payload, 'type');
  if (typeof type !== 'string' || type === '') {
    return invalid('invalid_message', '"payload.type" must be a non-empty string', readId(payload));
  }
  if (!hasOwn(payload, 'data')) return invalid('invalid_message', '"payload.data" is required', readId(payload));
  return { ok: true, value: { type, id: readId(payload), data: own(payload, 'data') } };
}

/** §3: every client message after the login: a `header` object and a complete `payload`. */
export function validateClientMessage(value: unknown): Validated<Payload> {
  if (!isObject(value)) return invalid('not_an_object', 'a message must be a JSON object');
  // own() spelled out with each key written in place: the message path's hottest reads, each then
  // a load the JIT can specialise for its site (own()'s one keyed load sees every key and shape).
  const payload = Object.hasOwn(value, 'payload') ? value.payload : undefined;
  const id = readId(payload);
  if (!isObject(Object.hasOwn(value, 'header') ? value.header : undefined)) {
    return invalid('invalid_message', 'a message needs a "header" object (it may be empty)', id);
  }
  if (!isObject(payload)) return invalid('invalid_message', 'a message needs a "payload" object');
  if (id === null) return invalid('invalid_message', '"payload.id" must be a string');
  const type = Object.hasOwn(payload, 'type') ? payload.type : undefined;
  if (typeof type !== 'string' || type === '') return invalid('invalid_message', '"payload.type" must be a non-empty string', id);
  if (!Object.hasOwn(payload, 'data')) return invalid('invalid_message', '"payload.data" is required (it may be null)', id);
  return { ok: true, value: { type, id, data: payload.data } };
}

/** §5.2: `builtin` messages carry `data.command.type`. */
export function builtinCommand(data: unknown): string | null {
  if (!isObject(data)) return null;
  const command = own(data, 'command');
  if (!isObject(command)) return null;
  const type = own(command, 'type');
  return typeof type === 'string' ? type : null;
}
