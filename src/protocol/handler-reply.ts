// A message handler's reply (docs/protocol.md §4.2): both shapes the original accepted,
// normalised into one command. Pure: deciding what a reply means is separate from doing it.
import type { ErrorCode } from './errors.ts';
import { isObject, own, hasOwn, type JsonObject } from './json.ts';

export type HandlerCommand =
  | { readonly kind: 'sendClients'; readonly users: readonly string[] }
  | { readonly kind: 'sendServers'; readonly servers: readonly string[] }
  | { readonly kind: 'sendHandler'; readonly handler: string };

export type HandlerReply =
  | {
      readonly ok: true;
      readonly command: HandlerCommand;
      readonly data: unknown;
      /** Where `data` was in the reply (object keys), or null when the reply had none and it is null. */
      readonly dataPath: readonly string[] | null;
      /** Set when the original's lenient reading was needed (e.g. unknown command name with a list). */
      readonly quirk: string | null;
    }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: string };

function fail(code: ErrorCode, reason: string): HandlerReply {
  return { ok: false, code, reason };
}

/** §4.2.1: status is a string holding a number ("0", "00" = success); a number is accepted too. */
function readStatus(header: JsonObject): number | null {
  const status = Object.hasOwn(header, 'status') ? header.status : undefined;
  if (status === '0') return 0; // nearly every reply
  if (typeof status === 'number' && Number.isInteger(status)) return status;
  if (typeof status === 'string' && /^-?[0-9]{1,9}$/.test(status.trim())) return Number(status.trim());
  return null;
}

/** `value` itself when it is a list of strings: the reply was parsed for this call alone, so no copy is needed. */
function stringList(value: unknown): readonly string[] | null {
  if (!Array.isArray(value)) return null;
  for (const item of value) if (typeof item !== 'string') return null;
  return value as string[];
}

const CODE_FORM_DATA = Object.freeze(['data']);
const SPEC_FORM_DATA = Object.freeze(['payload', 'data']);

export function parseHandlerReply(reply: unknown): HandlerReply {
  if (!isObject(reply)) return fail('handler_bad_reply', 'the handler reply is not a JSON object');
  // own() spelled out with each key written in place where every reply passes (as in
  // messages.ts validateClientMessage): a load the JIT can specialise for its site.
  const header = Object.hasOwn(reply, 'header') ? reply.header : undefined;
  if (!isObject(header)) return fail('handler_bad_reply', 'the handler reply has no "header" object');
  const status = readStatus(header);
  if (status === null) return fail('handler_bad_reply', 'the handler reply has no numeric "header.status"');
  if (status !== 0) {
    // Ours: a handler may explain itself in header.error; the sender sees it in the reason (§4.2.1).
    const error = own(header, 'error');
    const why = typeof error === 'string' && error !== '' ? `: ${error.slice(0, 500)}` : '';
    return fail('handler_error', `the handler answered status ${status}${why}`);
  }

  // Code form: header.command = {type, data}; result in top-level `data`.
  // Spec form: header.command = "name", header.commandData; result in payload.data.
  const rawCommand = Object.hasOwn(header, 'command') ? header.command : undefined;
  let name: unknown;
  let args: unknown;
  if (isObject(rawCommand)) {
    name = Object.hasOwn(rawCommand, 'type') ? rawCommand.type : undefined;
    args = Object.hasOwn(rawCommand, 'data') ? rawCommand.data : undefined;
  } else {
    name = rawCommand;
    args = own(header, 'commandData');
  }
  if (typeof name !== 'string') return fail('handler_bad_reply', 'the handler reply has no "header.command"');

  let data: unknown = null;
  let dataPath: readonly string[] | null = null;
  if (Object.hasOwn(reply, 'data')) {
    data = reply.data;
    dataPath = CODE_FORM_DATA;
  } else {
    const payload = own(reply, 'payload');
    if (isObject(payload) && hasOwn(payload, 'data')) {
      data = own(payload, 'data');
      dataPath = SPEC_FORM_DATA;
    }
  }

  const command = readCommand(name, args);
  if ('code' in command) return command;
  return { ok: true, command: command.command, data, dataPath, quirk: command.quirk };
}

function readCommand(
  name: string,
  args: unknown,
): { command: HandlerCommand; quirk: string | null } | (HandlerReply & { ok: false }) {
  switch (name) {
    case 'sendClients':
    case 'sendServers': {
      const list = stringList(args);
      if (list === null) return { ok: false, code: 'handler_bad_reply', reason: `"${name}" needs a list of strings` };
      return name === 'sendClients'
        ? { command: { kind: 'sendClients', users: list }, quirk: null }
        : { command: { kind: 'sendServers', servers: list }, quirk: null };
    }
    case 'sendHandler': {
      // The original named one handler; a one-element list is read the same way.
      const list = typeof args === 'string' ? null : stringList(args);
      const handler = typeof args === 'string' ? args : list?.length === 1 ? list[0] : undefined;
      if (handler === undefined || handler === '') {
        return { ok: false, code: 'handler_bad_reply', reason: '"sendHandler" needs the name of a handler type' };
      }
      return { command: { kind: 'sendHandler', handler }, quirk: null };
    }
    default: {
      // The original treated an unknown command that carries a list of names as sendClients (§4.2.3).
      const list = stringList(args);
      if (list !== null) {
        return { command: { kind: 'sendClients', users: list }, quirk: `unknown command "${name}" read as sendClients` };
      }
      return { ok: false, code: 'unknown_command', reason: `unknown handler command ${JSON.stringify(name)}` };
    }
  }
}
