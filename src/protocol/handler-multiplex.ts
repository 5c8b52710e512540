// The persistent handler protocol, multiplex/1 (docs/protocol.md §4.5, ours). No I/O here: the
// greeting, the acceptance, and the request and reply frames, shared by the daemon and the SDK.
import { isObject, own } from './json.ts';
import { jsonSourceOf, type JsonSource } from './json-text.ts';

/** What the daemon offers handlers it starts, in BESTER_HANDLER_PROTOCOLS (comma-separated). */
export const MULTIPLEX_PROTOCOL = 'multiplex/1';
export const MULTIPLEX_VERSION = 1;
/**
 * §4.5.1: a handler that speaks multiplex/1 sends this first on every connection it accepts; the
 * daemon sends the same frame back to accept it, before its first request.
 */
export const MULTIPLEX_GREETING = Object.freeze({ bester: 'multiplex', version: MULTIPLEX_VERSION });
export const MULTIPLEX_GREETING_JSON = JSON.stringify(MULTIPLEX_GREETING);

/** Any greeting, of any version: an object whose `bester` is "multiplex" (a reply never has that key). */
export function isGreeting(value: unknown): boolean {
  return isObject(value) && own(value, 'bester') === 'multiplex';
}

/** A greeting for the version we speak (§4.5.1). */
export function isSupportedGreeting(value: unknown): boolean {
  return isGreeting(value) && own(value as Record<string, unknown>, 'version') === MULTIPLEX_VERSION;
}

/** Whether BESTER_HANDLER_PROTOCOLS (a comma-separated list) offers multiplex/1. */
export function offersMultiplex(env: string | undefined): boolean {
  return (env ?? '').split(',').some((item) => item.trim() === MULTIPLEX_PROTOCOL);
}

/**
 * §4.5.2: one request, `{"id": n, "input": <input>}`, in pieces (frame.ts encodeJsonPieces): input
 * that came as bytes (a big one) is written on as those bytes, input with its text as that text.
 * Throws if `input` is not serialisable.
 */
export function multiplexRequestPieces(id: number, input: unknown): JsonSource[] {
  return [ID_OPEN, `${id}`, INPUT_KEY, jsonSourceOf(input), OBJECT_END];
}

// The fixed parts of requests and replies, encoded once (copied into each frame as they are).
const ID_OPEN = Buffer.from('{"id":', 'utf8');
const INPUT_KEY = Buffer.from(',"input":', 'utf8');
const REPLY_KEY = Buffer.from(',"reply":', 'utf8');
const OBJECT_END = Buffer.from('}', 'utf8');

/**
 * §4.5.3: one reply, `{"id": n, "reply": <reply>}`, in pieces (frame.ts encodeJsonPieces), the
 * reply serialised. Throws if `reply` is not serialisable.
 */
export function multiplexReplyPieces(id: number, reply: unknown): JsonSource[] {
  const json = JSON.stringify(reply);
  if (json === undefined) throw new TypeError('the reply is not JSON-serialisable');
  return [ID_OPEN, `${id}`, REPLY_KEY, json, OBJECT_END];
}

/** §4.5.2: a request as the handler reads it; null if the frame is not one. */
export function readMultiplexRequest(value: unknown): { id: number; input: unknown } | null {
  if (!isObject(value) || !Object.hasOwn(value, 'input')) return null;
  const id = own(value, 'id');
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return null;
  return { id, input: own(value, 'input') };
}

/** §4.5.3: a reply as the daemon reads it, `{"id": n, "reply": <§4.2 reply>}`; null if the frame is not one. */
export function readMultiplexReply(value: unknown): { id: number; reply: unknown } | null {
  if (!isObject(value) || !Object.hasOwn(value, 'reply')) return null;
  const id = own(value, 'id');
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return null;
  return { id, reply: own(value, 'reply') };
}
