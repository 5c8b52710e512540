// How the handler SDK (src/sdk/handler.ts) turns one request into one reply (docs/protocol.md §4.2,
// §4.4): the function's result, or a status "1" reply for whatever failed. Shared by the original
// way of serving a connection and by multiplex/1 (§4.5).
import { encodeFrame, parseFrameJson } from '../protocol/frame.ts';
import { isSupportedGreeting } from '../protocol/handler-multiplex.ts';
import { hasOwn, isObject, own } from '../protocol/json.ts';
import type { ErrorReply, HandlerContext, HandlerFunction, HandlerInput, HandlerReplyValue, ResolvedServeOptions, ServeOptions } from './handler.ts';

/** A failed reply without throwing: the same as `throw new Error(message)` in the handler function. */
export function replyError(message: string): ErrorReply {
  return { header: { status: '1', error: message }, data: null };
}

/**
 * Splits one parsed request into the function's arguments. Envelope input (§4.4) must be
 * `{sender, type, id, data}`; anything else is refused, which catches a daemon config that
 * lacks `"input": "envelope"` for a handler that needs the sender.
 */
export function readRequest(request: unknown, input: HandlerInput, type: string): { data: unknown; context: HandlerContext } {
  if (input === 'data') return { data: request, context: { sender: null, type, id: null } };
  const sender = isObject(request) ? own(request, 'sender') : undefined;
  const envType = isObject(request) ? own(request, 'type') : undefined;
  const id = isObject(request) ? own(request, 'id') : undefined;
  if (
    !isObject(request) ||
    !hasOwn(request, 'data') ||
    !(typeof sender === 'string' || sender === null) ||
    typeof envType !== 'string' ||
    !(typeof id === 'string' || id === null || id === undefined)
  ) {
    throw new Error(
      'expected an envelope {sender, type, id, data}: set "input": "envelope" for this handler in the daemon\'s handlers.typeMap',
    );
  }
  return { data: own(request, 'data'), context: { sender, type: envType, id: id ?? null } };
}

/** Runs the function for one request frame; never rejects: every failure becomes a status "1" reply. */
export async function answer(
  fn: HandlerFunction,
  body: Buffer,
  settings: ResolvedServeOptions,
  onError: ServeOptions['onError'],
): Promise<Buffer> {
  let request: unknown;
  try {
    request = parseFrameJson(body);
  } catch (err) {
    report(onError, err, null);
    return encodeFrame(replyError(err instanceof Error ? err.message : String(err)));
  }
  const reply = await answerRequest(fn, request, settings, onError);
  try {
    return encodeFrame(reply);
  } catch (err) {
    report(onError, err, null);
    return encodeFrame(replyError(err instanceof Error ? err.message : String(err)));
  }
}

/** Runs the function for one parsed request; never rejects: every failure becomes a status "1" reply. */
export async function answerRequest(
  fn: HandlerFunction,
  request: unknown,
  settings: ResolvedServeOptions,
  onError: ServeOptions['onError'],
): Promise<HandlerReplyValue> {
  let context: HandlerContext | null = null;
  try {
    const { data, context: requestContext } = readRequest(request, settings.input, settings.type);
    context = requestContext;
    const reply: unknown = await fn(data, requestContext);
    if (!isObject(reply) || !isObject(own(reply, 'header'))) {
      throw new TypeError('the handler function returned no reply: return sendClients(...), sendHandler(...) or sendServers(...)');
    }
    return reply as unknown as HandlerReplyValue;
  } catch (err) {
    report(onError, err, context);
    return replyError(err instanceof Error ? err.message : String(err));
  }
}

/** §4.5.1: the daemon accepted multiplex/1 by sending the greeting back as its first frame. */
export function isAcceptance(body: Buffer): boolean {
  try {
    return isSupportedGreeting(parseFrameJson(body));
  } catch {
    return false; // not JSON: an original request, refused the usual way
  }
}

export function report(onError: ServeOptions['onError'], err: unknown, context: HandlerContext | null): void {
  try {
    onError?.(err, context);
  } catch {
    // a failing error callback must not take the connection down
  }
}
