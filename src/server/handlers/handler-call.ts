// One call to a message handler, exactly as the original's handlers expect it
// (bester-original.md "Server -> handler"): a NEW connection to the handler's UNIX socket,
// ONE frame holding only the message's `payload.data`, ONE reply frame, then close.
// This is the daemon's hottest path with original handlers: one OriginalCall object per call is
// the frame connection's event sink, timer argument, receiver of the reply's end and (outside a
// CallList) abort listener at once (no closures, no promise).
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ENDED_MID_FRAME, FrameConnection, UNBOUNDED, writeFrame, type FrameConnectionEvents } from '../../framing/frame-connection.ts';
import { BesterError } from '../../protocol/errors.ts';
import { encodeJsonPieces, parseFrameText, type OutFrame, type ParseFrameOptions } from '../../protocol/frame.ts';
import { jsonSourceOf, type JsonData } from '../../protocol/json-text.ts';
import { isGreeting } from '../../protocol/handler-multiplex.ts';
import { AbortWatch, callBySend, type CallReceiver } from './handler-link.ts';

export interface HandlerCallOptions {
  /** The whole call (connect, send, reply) must finish within this many ms. */
  timeoutMs: number;
  /** Largest reply frame accepted; checked from the length prefix, before buffering. */
  maxReplyBytes: number;
  /** Deepest nesting accepted in the reply's JSON (limits.maxJsonDepth); unlimited when absent. */
  maxJsonDepth?: number;
  /** Aborting it ends the call with 'shutting_down'. */
  signal?: AbortSignal;
}

/**
 * Resolves with the reply frame parsed as JSON, with its text (any JSON value; the caller validates the shape).
 * Rejects only with BesterError: 'handler_unavailable', 'handler_timeout', 'handler_bad_reply',
 * 'shutting_down' (and 'internal_error' if `data` cannot be serialised, which parsed input never is).
 * The socket is destroyed on every path; bytes after the first reply frame are ignored. A multiplex
 * greeting (docs/protocol.md §4.5.1) read as the first frame is skipped: the reply is the next one.
 */
export function callHandler(socketPath: string, data: unknown, options: HandlerCallOptions, calls?: CallList): Promise<JsonData> {
  return callBySend((receiver) => sendToHandler(socketPath, data, options, receiver, calls));
}

/** callHandler, its end told to `receiver` (handler-link.ts CallReceiver; at once when it cannot start). */
export function sendToHandler(socketPath: string, data: unknown, options: HandlerCallOptions, receiver: CallReceiver, calls?: CallList): void {
  callOverStream(socketPath, null, data, options, receiver, calls ?? null);
}

/**
 * The same call on a connection already open (docs/protocol.md §4.5.1: the daemon waited for a
 * greeting that did not come). The request is written at once, even if the call was cancelled
 * meanwhile: an original handler must never see a connection that sends nothing.
 */
export function callOnConnectedSocket(
  socketPath: string,
  stream: Duplex,
  data: unknown,
  options: HandlerCallOptions,
  calls?: CallList,
): Promise<JsonData> {
  return callBySend((receiver) => callOverStream(socketPath, stream, data, options, receiver, calls ?? null));
}

/**
 * The calls in flight of one link (original-link.ts), so that closing it settles them: a doubly
 * linked list through the calls themselves, nothing allocated per call. It listens for the calls'
 * abort signals once per signal (AbortWatch), not once per call.
 */
export class CallList {
  head: OriginalCall | null = null;
  closed = false;
  readonly #aborts = new AbortWatch((signal) => {
    for (let call = this.head; call !== null; ) {
      const next = call.next; // a settled call leaves the list
      if (call.signal === signal) call.handleEvent();
      call = next;
    }
  });

  /** Settles every call in flight with handler_bad_reply; later calls are refused by the link. */
  close(): void {
    this.closed = true;
    this.#aborts.clear();
    for (let call = this.head; call !== null; call = this.head) call.abandon();
  }

  /** Listens for `signal` (once for all calls carrying it): aborting it ends those calls with shutting_down. */
  watch(signal: AbortSignal): void {
    this.#aborts.watch(signal);
  }
}

function callOverStream(
  socketPath: string,
  open: Duplex | null,
  data: unknown,
  options: HandlerCallOptions,
  receiver: CallReceiver,
  calls: CallList | null,
): void {
  let frame: OutFrame;
  try {
    frame = encodeJsonPieces([jsonSourceOf(data)]);
  } catch (cause) {
    open?.destroy();
    receiver.fail(new BesterError('internal_error', 'message data is not JSON-serialisable', { cause }));
    return;
  }
  if (open) writeFrame(open, frame);
  if (options.signal?.aborted === true) {
    open?.end();
    receiver.fail(shuttingDown(socketPath));
    return;
  }
  if (open) {
    new OriginalCall(socketPath, open, options, calls, receiver);
    return;
  }
  // Written once connected: a write queued while connecting costs Node two more listeners.
  const socket = net.createConnection({ path: socketPath });
  socket.on('connect', () => writeFrame(socket, frame));
  new OriginalCall(socketPath, socket, options, calls, receiver);
}

/** One call in flight: tells its receiver once, then the connection is destroyed. */
class OriginalCall implements FrameConnectionEvents {
  /** The CallList links (null when the call is in none or is the last). */
  prev: OriginalCall | null = null;
  next: OriginalCall | null = null;
  /** The call's abort signal (its CallList's listener looks for it). */
  readonly signal: AbortSignal | undefined;
  readonly #list: CallList | null;
  readonly #socketPath: string;
  readonly #parseOptions: ParseFrameOptions;
  readonly #timeoutMs: number;
  readonly #conn: FrameConnection;
  readonly #timer: NodeJS.Timeout;
  readonly #receiver: CallReceiver;
  #settled = false;
  #firstFrame = true;

  constructor(socketPath: string, stream: Duplex, options: HandlerCallOptions, list: CallList | null, receiver: CallReceiver) {
    this.#receiver = receiver;
    this.#socketPath = socketPath;
    this.#parseOptions = options.maxJsonDepth === undefined ? REPLY_OPTIONS : { maxDepth: options.maxJsonDepth, lazy: REPLY_DATA, find: REPLY_DATA[0] };
    this.signal = options.signal;
    this.#timeoutMs = options.timeoutMs;
    this.#conn = new FrameConnection(stream, socketPath, this, { maxFrameBytes: options.maxReplyBytes, maxOutboundBytes: UNBOUNDED });
    this.#timer = setTimeout(OriginalCall.#timedOut, options.timeoutMs, this);
    // In a list, the list listens for the signal (once for all its calls); alone, the call does.
    if (this.signal !== undefined) {
      if (list !== null) list.watch(this.signal);
      else this.signal.addEventListener('abort', this, { once: true });
    }
    this.#list = list;
    if (list !== null) {
      this.next = list.head;
      if (list.head !== null) list.head.prev = this;
      list.head = this;
    }
  }

  /** Its link was closed: the call ends now. */
  abandon(): void {
    this.#settle(new BesterError('handler_bad_reply', `handler socket ${this.#socketPath}: handler connection closed`));
  }

  frame(body: Buffer): void {
    let reply: JsonData;
    try {
      reply = parseFrameText(body, this.#parseOptions);
    } catch (cause) {
      this.#settle(badReply(this.#socketPath, `an unreadable reply: ${(cause as BesterError).message}`, cause));
      return;
    }
    const skip = this.#firstFrame && isGreeting(reply.shallowValue);
    this.#firstFrame = false;
    if (skip || this.#settled) return;
    this.#settled = true;
    this.#stop();
    // Destroyed before the reply is carried on: the socket's fd is closed by libuv after this
    // turn's callbacks, so the result's deliveries (written at the end of the turn) do not wait for it.
    this.#conn.destroy();
    this.#receiver.reply(reply);
  }

  protocolError(err: BesterError): void {
    if (this.#settled) return;
    this.#settle(
      err.message === ENDED_MID_FRAME
        ? closedWithoutReply(this.#socketPath, true)
        : badReply(this.#socketPath, `an unusable reply frame: ${err.message}`, err),
    );
  }

  ended(): void {
    if (!this.#settled) this.#settle(closedWithoutReply(this.#socketPath, false));
  }

  closed(err: Error | null): void {
    // Built only when still unsettled: after a reply every call ends here, and an Error (its stack) costs.
    if (this.#settled) return;
    if (err === null) {
      this.#settle(closedWithoutReply(this.#socketPath, false));
      return;
    }
    const code = (err as NodeJS.ErrnoException).code ?? err.message;
    this.#settle(
      (err as NodeJS.ErrnoException).syscall === 'connect'
        ? new BesterError('handler_unavailable', `handler socket ${this.#socketPath} is not accepting connections (${code})`, { cause: err })
        : badReply(this.#socketPath, `a connection error (${code})`, err),
    );
  }

  /** Its abort signal fired (the listener of a call in no list is the call itself: no closure per call). */
  handleEvent(): void {
    this.#settle(shuttingDown(this.#socketPath));
  }

  static #timedOut(call: OriginalCall): void {
    call.#settle(new BesterError('handler_timeout', `handler socket ${call.#socketPath} did not reply within ${call.#timeoutMs} ms`));
  }

  /** Every failure ends here: settles once and destroys the connection. */
  #settle(err: BesterError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#stop();
    this.#conn.destroy();
    this.#receiver.fail(err);
  }

  #stop(): void {
    clearTimeout(this.#timer);
    const list = this.#list;
    if (list === null) {
      this.signal?.removeEventListener('abort', this);
      return;
    }
    if (this.prev !== null) this.prev.next = this.next;
    else if (list.head === this) list.head = this.next;
    if (this.next !== null) this.next.prev = this.prev;
    this.prev = this.next = null;
  }
}

/** Where a reply's result is (docs/protocol.md §4.2): read as text when big, since it is only passed on. */
export const REPLY_DATA: ReadonlyArray<readonly string[]> = Object.freeze([['data'], ['payload', 'data']]);
// The result is looked for where the code form has it (`data`, §4.2) while the reply is read; the
// spec form's `payload.data` is found when asked for.
const REPLY_OPTIONS: ParseFrameOptions = Object.freeze({ lazy: REPLY_DATA, find: REPLY_DATA[0] });

export function shuttingDown(socketPath: string): BesterError {
  return new BesterError('shutting_down', `call to handler socket ${socketPath} cancelled: shutting down`);
}

function badReply(socketPath: string, what: string, cause: unknown): BesterError {
  return new BesterError('handler_bad_reply', `handler socket ${socketPath} sent ${what}`, { cause });
}

function closedWithoutReply(socketPath: string, midFrame: boolean): BesterError {
  const how = midFrame ? 'in the middle of its reply' : 'without a reply';
  return new BesterError('handler_bad_reply', `handler socket ${socketPath} closed the connection ${how}`);
}
