// One long-lived connection to a handler that speaks multiplex/1 (docs/protocol.md §4.5): many
// requests in flight, replies matched by id in any order. States: 'greeting' (connected or
// connecting, waiting for the handler's greeting) -> 'open' -> 'closed'; or, when the greeting
// is optional and does not come in time, 'released': the socket is handed back untouched for
// a call the original way (§4.1), because an original handler must never get an empty connection.
import net from 'node:net';
// Imported, not the global: `globalThis.performance` is a getter, read again at each call's deadline.
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { FrameConnection, UNBOUNDED, type FrameConnectionEvents } from '../../framing/frame-connection.ts';
import { BesterError } from '../../protocol/errors.ts';
import { encodeJsonFrame, encodeJsonPieces, parseFrameText, type OutFrame, type ParseFrameOptions } from '../../protocol/frame.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import {
  isGreeting,
  isSupportedGreeting,
  MULTIPLEX_GREETING_JSON,
  multiplexRequestPieces,
  readMultiplexReply,
} from '../../protocol/handler-multiplex.ts';
import { REPLY_DATA } from './handler-call.ts';
import { AbortWatch, callBySend, type CallReceiver } from './handler-link.ts';

/** The reply inside the {"id", "reply"} wrapper (§4.5.3), and where its result is: read as text when big. */
const REPLY = Object.freeze(['reply']);
const MULTIPLEX_REPLY_DATA: ReadonlyArray<readonly string[]> = Object.freeze(REPLY_DATA.map((path) => Object.freeze([...REPLY, ...path])));
const MULTIPLEX_OPTIONS: ParseFrameOptions = Object.freeze({ lazy: MULTIPLEX_REPLY_DATA, find: MULTIPLEX_REPLY_DATA[0] });

export interface MultiplexConnectionOptions {
  readonly socketPath: string;
  readonly maxReplyBytes: number;
  readonly maxJsonDepth?: number;
  /** Called once when the connection is closed for good (not when released). */
  readonly onClosed: (connection: MultiplexConnection) => void;
}

export interface MultiplexCallOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** What waiting for the greeting gave: an open multiplex connection, or a silent socket to call the original way. */
export type Greeted = { readonly kind: 'multiplex' } | { readonly kind: 'silent'; readonly socket: Duplex };

interface Pending {
  readonly receiver: CallReceiver;
  /** performance.now() past which the call is `handler_timeout`, and its timeout for the message. */
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

type State = 'greeting' | 'open' | 'released' | 'closed';

export class MultiplexConnection implements FrameConnectionEvents {
  readonly #o: MultiplexConnectionOptions;
  readonly #socket: net.Socket;
  readonly #conn: FrameConnection;
  readonly #depth: number | undefined;
  readonly #pending = new Map<number, Pending>();
  /**
   * Abort listeners, one per distinct signal its calls carried (in the daemon: the one shutdown
   * signal), not one per call: aborting settles every waiting call that carried that signal.
   */
  readonly #aborts = new AbortWatch((signal) => {
    for (const [id, pending] of this.#pending) if (pending.signal === signal) this.#settle(id, shuttingDown(this.#o.socketPath));
  });
  #state: State = 'greeting';
  #connected = false;
  #nextId = 1;
  #greeted = Promise.withResolvers<Greeted>();
  #greetTimer: NodeJS.Timeout | null = null;
  /**
   * One timer for all the calls' timeouts, not one per call (a timer set and cleared per message
   * was measurable at tens of thousands of calls a second): armed for the earliest deadline it
   * knows of (`#sweepAt`); when it fires it ends the calls past theirs and is armed for the next.
   */
  #sweeper: NodeJS.Timeout | null = null;
  #sweepAt = Number.POSITIVE_INFINITY;

  /**
   * Connects and waits up to `greetingWaitMs` for the greeting. With `required`, no greeting is a
   * `handler_bad_reply`; without it, the socket is released for an original call. Await `greeted`.
   */
  constructor(options: MultiplexConnectionOptions, greetingWaitMs: number, required: boolean) {
    this.#o = options;
    this.#depth = options.maxJsonDepth === undefined ? undefined : options.maxJsonDepth + 1; // the {id, reply} wrapper
    this.#socket = net.createConnection({ path: options.socketPath });
    this.#conn = new FrameConnection(this.#socket, options.socketPath, this, { maxFrameBytes: options.maxReplyBytes, maxOutboundBytes: UNBOUNDED, coalesceWrites: true });
    this.#socket.on('connect', () => {
      this.#connected = true;
      this.#greetTimer = setTimeout(() => {
        this.#greetTimer = null;
        if (this.#state !== 'greeting') return;
        if (this.#conn.midFrame) {
          // Not an original handler (those never write first), and not a greeting in time.
          this.#close(this.#bad(`an incomplete frame before any request, and no greeting within ${greetingWaitMs} ms`, null));
        } else if (required) {
          this.#close(this.#bad(`no multiplex greeting within ${greetingWaitMs} ms (a handler written for the original? its "protocol" must not be "multiplex")`, null));
        } else this.#release();
      }, greetingWaitMs);
    });
  }

  /** FrameConnectionEvents: one frame from the handler. */
  frame(body: Buffer): void {
    this.#onFrame(body, this.#depth);
  }

  protocolError(err: BesterError): void {
    this.#close(this.#bad(`an unusable frame (${err.message}); connection dropped`, err));
  }

  ended(): void {
    this.#close(this.#closedError(''));
  }

  closed(err: Error | null): void {
    if (err === null || this.#connected) {
      this.#close(this.#closedError(err === null ? '' : ` (${(err as NodeJS.ErrnoException).code ?? err.message})`));
      return;
    }
    const code = (err as NodeJS.ErrnoException).code ?? err.message;
    this.#close(new BesterError('handler_unavailable', `handler socket ${this.#o.socketPath} is not accepting connections (${code})`, { cause: err }));
  }

  get greeted(): Promise<Greeted> {
    return this.#greeted.promise;
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  /** Calls waiting for their reply on this connection. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * §4.5.2: one request; resolves with the reply and its text (§4.2, the caller validates it).
   * Rejects only with BesterError.
   */
  call(input: unknown, options: MultiplexCallOptions): Promise<JsonData> {
    return callBySend((receiver) => this.send(input, options, receiver));
  }

  /** call(), its end told to `receiver` (at once when the connection is not open or `signal` is aborted). */
  send(input: unknown, options: MultiplexCallOptions, receiver: CallReceiver): void {
    const { signal } = options;
    if (this.#state !== 'open') {
      receiver.fail(this.#closedError(''));
      return;
    }
    if (signal?.aborted === true) {
      receiver.fail(shuttingDown(this.#o.socketPath));
      return;
    }
    const id = this.#nextId++;
    let frame: OutFrame;
    try {
      frame = encodeJsonPieces(multiplexRequestPieces(id, input));
    } catch (cause) {
      receiver.fail(new BesterError('internal_error', 'message data is not JSON-serialisable', { cause }));
      return;
    }
    const { timeoutMs } = options;
    const deadline = performance.now() + timeoutMs;
    if (deadline < this.#sweepAt) this.#armSweeper(deadline);
    if (signal !== undefined) this.#aborts.watch(signal);
    this.#pending.set(id, { receiver, deadline, timeoutMs, signal });
    this.#conn.sendFrame(frame);
  }

  /** Destroys the connection; calls still waiting get `handler_bad_reply`. Idempotent. */
  close(): void {
    this.#close(this.#closedError(''));
  }

  #onFrame(body: Buffer, depth: number | undefined): void {
    let frame: JsonData;
    try {
      frame = parseFrameText(body, depth === undefined ? MULTIPLEX_OPTIONS : { maxDepth: depth, lazy: MULTIPLEX_REPLY_DATA, find: MULTIPLEX_REPLY_DATA[0] });
    } catch (cause) {
      const why = (cause as BesterError).message;
      this.#close(this.#bad(`an unreadable frame (${why}; the {"id", "reply"} wrapper counts as one level); connection dropped`, cause));
      return;
    }
    const value = frame.shallowValue;
    if (this.#state === 'greeting') {
      if (!isSupportedGreeting(value)) {
        const what = isGreeting(value) ? 'a greeting for another multiplex version' : 'a frame before any request that is no greeting';
        this.#close(this.#bad(`${what}; connection dropped`, null));
        return;
      }
      this.#state = 'open';
      this.#clearGreetTimer();
      this.#socket.setNoDelay(true);
      this.#conn.sendFrame(encodeJsonFrame(MULTIPLEX_GREETING_JSON)); // §4.5.1: accepted
      this.#greeted.resolve({ kind: 'multiplex' });
      return;
    }
    if (this.#state !== 'open') return;
    const reply = readMultiplexReply(value);
    if (reply === null) {
      this.#close(this.#bad('a frame that is not {"id", "reply"} (docs/protocol.md §4.5.3); connection dropped', null));
      return;
    }
    const pending = this.#pending.get(reply.id);
    if (!pending) return; // timed out or cancelled already: a late reply is ignored
    this.#pending.delete(reply.id);
    // The reply's own text, for passing its data on unchanged; the fallback is never needed for a parsed frame.
    pending.receiver.reply(frame.member(REPLY, reply.reply));
  }

  /** Ends one call with an error, if it is still waiting. */
  #settle(id: number, err: BesterError): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    pending.receiver.fail(err);
  }

  #armSweeper(at: number): void {
    if (this.#sweeper !== null) clearTimeout(this.#sweeper);
    this.#sweepAt = at;
    this.#sweeper = setTimeout(() => this.#sweep(), Math.max(1, Math.ceil(at - performance.now())));
  }

  /** The timer fired: the calls past their deadline get `handler_timeout` (a late reply for one is ignored). */
  #sweep(): void {
    this.#sweeper = null;
    this.#sweepAt = Number.POSITIVE_INFINITY;
    // Timers count whole milliseconds: one may fire a fraction early.
    const now = performance.now() + 1;
    let next = Number.POSITIVE_INFINITY;
    for (const [id, pending] of this.#pending) {
      if (pending.deadline <= now) {
        this.#settle(id, new BesterError('handler_timeout', `handler socket ${this.#o.socketPath} did not reply within ${pending.timeoutMs} ms`));
      } else if (pending.deadline < next) next = pending.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY && this.#state === 'open') this.#armSweeper(next);
  }

  #clearGreetTimer(): void {
    if (this.#greetTimer !== null) clearTimeout(this.#greetTimer);
    this.#greetTimer = null;
  }

  /** No greeting: hand the socket back with nothing read from it and none of our listeners but an error guard. */
  #release(): void {
    const stream = this.#conn.release();
    if (stream === null) {
      this.#close(this.#bad('an incomplete frame before any request', null));
      return;
    }
    this.#state = 'released';
    stream.on('error', () => undefined); // the original call adds its own
    this.#greeted.resolve({ kind: 'silent', socket: stream });
  }

  /** The single way to closed: every pending call gets exactly one outcome. */
  #close(err: BesterError): void {
    if (this.#state === 'closed' || this.#state === 'released') return;
    const wasGreeting = this.#state === 'greeting';
    this.#state = 'closed';
    this.#clearGreetTimer();
    if (this.#sweeper !== null) clearTimeout(this.#sweeper);
    this.#sweeper = null;
    this.#conn.destroy();
    if (wasGreeting) this.#greeted.reject(err);
    // A rejection nobody awaits (a connection closed after it opened) must not crash the daemon.
    this.#greeted.promise.catch(() => undefined);
    for (const [id] of this.#pending) this.#settle(id, err);
    this.#aborts.clear();
    this.#o.onClosed(this);
  }

  #closedError(detail: string): BesterError {
    return new BesterError('handler_bad_reply', `handler socket ${this.#o.socketPath}: handler connection closed${detail}`);
  }

  #bad(what: string, cause: unknown): BesterError {
    return new BesterError('handler_bad_reply', `handler socket ${this.#o.socketPath} sent ${what}`, cause === null ? undefined : { cause });
  }
}

function shuttingDown(socketPath: string): BesterError {
  return new BesterError('shutting_down', `call to handler socket ${socketPath} cancelled: shutting down`);
}
