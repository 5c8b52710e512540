// multiplex/1 (docs/protocol.md §4.5) over up to `connections` long-lived connections to one
// handler process (handlers.typeMap.T.connections, §4.5.3); each call goes to the open connection
// with the fewest calls waiting, and another is opened while all are busy.
import type { HandlerConfig } from '../config/types.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import { shuttingDown, type HandlerCallOptions } from './handler-call.ts';
import { callBySend, linkClosed, linkError, type CallReceiver, type HandlerLink, type HandlerProtocolStatus } from './handler-link.ts';
import { MultiplexConnection } from './multiplex-connection.ts';

/** How long a new connection waits for the greeting once the handler is known to speak multiplex/1. */
export const REQUIRED_GREETING_WAIT_MS = 1000;

export interface MultiplexLinkOptions {
  /**
   * The handler is configured "multiplex" (true), or an "auto" handler was found to speak it
   * (false: a failure to open a connection is reported to onLost, and the greeting wait is not
   * shortened to the call's timeout).
   */
  readonly forced: boolean;
  /** What the handler speaks may have changed (auto mode): a connection could not be opened, or one dropped. */
  readonly onLost?: (why: 'open_failed' | 'connection_lost') => void;
}

export class MultiplexLink implements HandlerLink {
  readonly #handler: Pick<HandlerConfig, 'socketPath' | 'connections'>;
  readonly #o: MultiplexLinkOptions;
  readonly #connections = new Set<MultiplexConnection>();
  /** A connection being opened (at most one at a time). */
  #opening: Promise<MultiplexConnection> | null = null;
  #closed = false;

  constructor(handler: Pick<HandlerConfig, 'socketPath' | 'connections'>, options: MultiplexLinkOptions) {
    this.#handler = handler;
    this.#o = options;
  }

  call(input: JsonData, options: HandlerCallOptions): Promise<JsonData> {
    return callBySend((receiver) => this.send(input, options, receiver));
  }

  send(input: JsonData, options: HandlerCallOptions, receiver: CallReceiver): void {
    let picked: MultiplexConnection | Promise<MultiplexConnection>;
    try {
      picked = this.#pick(options);
    } catch (err) {
      receiver.fail(linkError(err));
      return;
    }
    // An open connection at hand: no time was spent waiting, the call gets its whole timeout.
    if (picked instanceof MultiplexConnection) {
      picked.send(input, options, receiver);
      return;
    }
    // Waiting for a connection to open starts now (the clock is read only on this path).
    const startedAt = performance.now();
    picked.then(
      (connection) => {
        if (options.signal?.aborted === true) receiver.fail(shuttingDown(this.#handler.socketPath));
        else connection.send(input, { ...options, timeoutMs: remaining(options.timeoutMs, startedAt) }, receiver);
      },
      (err: unknown) => receiver.fail(linkError(err)),
    );
  }

  status(): HandlerProtocolStatus {
    return { protocol: 'multiplex', connections: this.openConnections };
  }

  get openConnections(): number {
    let open = 0;
    for (const connection of this.#connections) if (connection.isOpen) open++;
    return open;
  }

  /** Takes a connection opened elsewhere (auto mode's negotiation, §4.5.1) whose greeting was accepted. */
  adopt(connection: MultiplexConnection): void {
    if (this.#closed) connection.close();
    else this.#connections.add(connection);
  }

  /** A connection owned by this link; `required`: no greeting within `waitMs` is handler_bad_reply. */
  connect(waitMs: number, required: boolean, maxReplyBytes: number, maxJsonDepth: number | undefined): MultiplexConnection {
    const connection = new MultiplexConnection(
      {
        socketPath: this.#handler.socketPath,
        maxReplyBytes,
        ...(maxJsonDepth !== undefined ? { maxJsonDepth } : {}),
        onClosed: (closed) => {
          if (this.#connections.delete(closed)) this.#o.onLost?.('connection_lost');
        },
      },
      waitMs,
      required,
    );
    if (this.#closed) connection.close();
    return connection;
  }

  close(): void {
    this.#closed = true;
    for (const connection of this.#connections) connection.close();
  }

  /**
   * The open connection with the fewest calls waiting; another one is opened while all are busy and
   * the handler's `connections` are not all open yet. The connection itself when one is at hand; a
   * promise only when the call must wait for one to open.
   */
  #pick(options: HandlerCallOptions): MultiplexConnection | Promise<MultiplexConnection> {
    if (this.#closed) throw linkClosed(this.#handler.socketPath);
    let best: MultiplexConnection | null = null;
    for (const connection of this.#connections) {
      if (connection.isOpen && (best === null || connection.pending < best.pending)) best = connection;
    }
    if (best !== null && (best.pending === 0 || this.#connections.size >= this.#handler.connections || this.#opening !== null)) return best;
    if (this.#opening === null) {
      const waitMs = this.#o.forced ? Math.min(REQUIRED_GREETING_WAIT_MS, options.timeoutMs) : REQUIRED_GREETING_WAIT_MS;
      const connection = this.connect(waitMs, true, options.maxReplyBytes, options.maxJsonDepth);
      const opening = connection.greeted.then(() => {
        this.adopt(connection);
        return connection;
      });
      this.#opening = opening;
      const clear = (): void => {
        if (this.#opening === opening) this.#opening = null;
      };
      opening.then(clear, clear);
      if (best !== null) {
        opening.catch(() => undefined); // a spare connection; the call goes to `best`
        return best;
      }
    }
    if (best !== null) return best;
    return this.#opening.catch((err: unknown) => {
      if (!this.#o.forced) this.#o.onLost?.('open_failed');
      throw err;
    });
  }
}

/** What is left of a call's time after `startedAt` (at least 1 ms: the timer still fires). */
export function remaining(timeoutMs: number, startedAt: number): number {
  return Math.max(1, Math.round(timeoutMs - (performance.now() - startedAt)));
}
