// Informer requests and answers (docs/protocol.md §9): shapes and validation right after
// JSON.parse (STYLE.md #2). No I/O here.
import { parseFrameJson } from '../../protocol/frame.ts';
import { isObject, own } from '../../protocol/json.ts';

/** §9.2: `{"command": {"type": "<name>", "data": <any>}}`. */
export interface InformerRequest {
  readonly type: string;
  /** `command.data`; null when absent. */
  readonly data: unknown;
}

/** §9.2: status "0" with the result, or status "1" with a human-readable `error` (ours). */
export type InformerAnswer =
  | { readonly status: '0'; readonly data: unknown }
  | { readonly status: '1'; readonly data: null; readonly error: string };

export function success(data: unknown): InformerAnswer {
  return { status: '0', data };
}

export function failure(error: string): InformerAnswer {
  return { status: '1', data: null, error };
}

const SHAPE = 'a request is {"command": {"type": "<name>", "data": <any>}}';

/** §9.3: a request that cannot be read is answered status "1"; the connection stays usable. */
export function parseRequest(
  body: Buffer,
  maxDepth?: number,
): { ok: true; request: InformerRequest } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = parseFrameJson(body, maxDepth === undefined ? {} : { maxDepth });
  } catch (err) {
    return { ok: false, error: `${(err as Error).message}; ${SHAPE}` };
  }
  if (!isObject(value)) return { ok: false, error: `the request is not a JSON object; ${SHAPE}` };
  const command = own(value, 'command');
  if (!isObject(command)) return { ok: false, error: `the request has no "command" object; ${SHAPE}` };
  const type = own(command, 'type');
  if (typeof type !== 'string' || type === '') {
    return { ok: false, error: `"command.type" must be a non-empty string; ${SHAPE}` };
  }
  return { ok: true, request: { type, data: own(command, 'data') ?? null } };
}

/** §9.4 sendClients: `{"users": [...], "type": "<type>", "data": <any>}`. */
export interface SendClientsData {
  readonly users: readonly string[];
  readonly type: string;
  readonly data: unknown;
}

export function parseSendClients(data: unknown): { ok: true; value: SendClientsData } | { ok: false; error: string } {
  const shape = 'sendClients data is {"users": ["<username>", ...], "type": "<message type>", "data": <any>}';
  if (!isObject(data)) return { ok: false, error: shape };
  const users = own(data, 'users');
  if (!Array.isArray(users) || !users.every((u): u is string => typeof u === 'string')) {
    return { ok: false, error: `"users" must be an array of strings; ${shape}` };
  }
  const type = own(data, 'type');
  if (typeof type !== 'string' || type === '') return { ok: false, error: `"type" must be a non-empty string; ${shape}` };
  return { ok: true, value: { users, type, data: own(data, 'data') ?? null } };
}
