// The handler's `protocol` "auto" (docs/protocol.md §4.5.1): the first call to a handler process
// connects and waits up to GREETING_WAIT_MS for a greeting. With one, the handler speaks
// multiplex/1 and this link behaves as a MultiplexLink; without, that same connection carries the
// call the original way and the link behaves as an OriginalLink. One AutoLink per handler process
// (handler-pool.ts makes a new one when the process changes). For an external handler, whose
// process the daemon cannot see, a connection failure makes it ask again.
import type { HandlerConfig } from '../config/types.ts';
import { BesterError } from '../../protocol/errors.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import { callOnConnectedSocket, CallList, shuttingDown, type HandlerCallOptions } from './handler-call.ts';
import { linkClosed, tellWhenSettled, type CallReceiver, type HandlerLink, type HandlerProtocolStatus } from './handler-link.ts';
import { MultiplexLink, remaining } from './multiplex-link.ts';
import { OriginalLink } from './original-link.ts';

/** §4.5.1: how long a call in "auto" mode waits for a greeting, once per handler process. */
export const GREETING_WAIT_MS = 50;

type Learned = 'unknown' | 'original' | 'multiplex';

const UNKNOWN: HandlerProtocolStatus = Object.freeze({ protocol: 'unknown', connections: 0 });
const ORIGINAL: HandlerProtocolStatus = Object.freeze({ protocol: 'original', connections: 0 });

export class AutoLink implements HandlerLink {
  readonly #handler: Pick<HandlerConfig, 'socketPath' | 'connections'>;
  /** Whether the daemon sees the handler's process (managed) or not (external: asks again after failures). */
  readonly #external: boolean;
  readonly #original: OriginalLink;
  readonly #multiplex: MultiplexLink;
  /** The negotiating call's connection, settled by close() like the others. */
  readonly #negotiation = new CallList();
  #learned: Learned = 'unknown';
  /** The call finding out what the handler speaks; others wait for it instead of probing too. */
  #negotiating: Promise<void> | null = null;
  #closed = false;
  /** Bound once: an external original handler that cannot be reached may come back as another program. */
  readonly #onOriginalFailed = (err: unknown): never => {
    if (err instanceof BesterError && err.code === 'handler_unavailable') this.#forget();
    throw err;
  };

  constructor(handler: Pick<HandlerConfig, 'socketPath' | 'connections'>, external: boolean) {
    this.#handler = handler;
    this.#external = external;
    this.#original = new OriginalLink(handler.socketPath);
    this.#multiplex = new MultiplexLink(handler, {
      forced: false,
      onLost: (why) => {
        // A connection that could not be opened: ask again. One that dropped: only an external
        // handler may have been replaced by another program (a managed one gets a new link).
        if (why === 'open_failed' || this.#external) this.#forget();
      },
    });
  }

  call(input: JsonData, options: HandlerCallOptions): Promise<JsonData> {
    // The settled cases without an extra async frame per message (the hot path); the rest below.
    if (this.#learned === 'multiplex') return this.#multiplex.call(input, options);
    if (this.#learned === 'original') {
      const call = this.#original.call(input, options);
      return this.#external ? call.catch(this.#onOriginalFailed) : call;
    }
    return this.#callUnknown(input, options);
  }

  send(input: JsonData, options: HandlerCallOptions, receiver: CallReceiver): void {
    if (this.#learned === 'multiplex') this.#multiplex.send(input, options, receiver);
    // A managed handler's failures change nothing here; an external one's may mean another program (#onOriginalFailed).
    else if (this.#learned === 'original' && !this.#external) this.#original.send(input, options, receiver);
    else tellWhenSettled(this.call(input, options), receiver);
  }

  status(): HandlerProtocolStatus {
    if (this.#learned === 'original') return ORIGINAL;
    if (this.#learned === 'multiplex') return { protocol: 'multiplex', connections: this.#multiplex.openConnections };
    return UNKNOWN;
  }

  close(): void {
    this.#closed = true;
    this.#original.close();
    this.#multiplex.close();
    this.#negotiation.close();
  }

  async #callUnknown(input: JsonData, options: HandlerCallOptions): Promise<JsonData> {
    // Looked at again after each wait: the negotiation may have failed, and the next call tries again.
    for (;;) {
      if (this.#closed) throw linkClosed(this.#handler.socketPath);
      if (this.#learned !== 'unknown') return this.call(input, options);
      if (this.#negotiating === null) return this.#negotiate(input, options);
      await this.#negotiating;
      if (options.signal?.aborted === true) throw shuttingDown(this.#handler.socketPath);
    }
  }

  /** §4.5.1: connect, wait for a greeting; with none, this same connection carries the call the original way. */
  async #negotiate(input: JsonData, options: HandlerCallOptions): Promise<JsonData> {
    const done = Promise.withResolvers<void>();
    this.#negotiating = done.promise;
    const startedAt = performance.now();
    const waitMs = Math.max(1, Math.min(GREETING_WAIT_MS, options.timeoutMs));
    const connection = this.#multiplex.connect(waitMs, false, options.maxReplyBytes, options.maxJsonDepth);
    try {
      const greeted = await connection.greeted;
      if (this.#closed) {
        // Closed while it waited for the greeting (the handler process is gone, or the daemon stops).
        if (greeted.kind === 'multiplex') connection.close();
        else greeted.socket.destroy();
        throw linkClosed(this.#handler.socketPath);
      }
      if (greeted.kind === 'multiplex') {
        this.#learned = 'multiplex';
        this.#multiplex.adopt(connection);
        done.resolve();
        return await connection.call(input, { ...options, timeoutMs: remaining(options.timeoutMs, startedAt) });
      }
      this.#learned = 'original';
      done.resolve();
      const rest = { ...options, timeoutMs: remaining(options.timeoutMs, startedAt) };
      return await callOnConnectedSocket(this.#handler.socketPath, greeted.socket, input, rest, this.#negotiation);
    } catch (err) {
      if (this.#learned === 'unknown') this.#forget();
      throw err;
    } finally {
      done.resolve();
      if (this.#negotiating === done.promise) this.#negotiating = null;
    }
  }

  /** Forget what the handler speaks: the next call negotiates again. */
  #forget(): void {
    this.#learned = 'unknown';
  }
}
