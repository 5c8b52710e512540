// How the daemon calls each handler (docs/protocol.md §4.1, §4.5): the original way (a new
// connection per call), or over a few long-lived multiplex/1 connections. In the handler's
// `protocol` mode "auto" the handler tells: the first call after the handler (re)started waits
// up to GREETING_WAIT_MS for its greeting, and what it learned holds for that handler process.
import type { HandlerConfig } from '../config/types.ts';
import { BesterError } from '../../protocol/errors.ts';
import { callHandler, callOnConnectedSocket, type HandlerCallOptions } from './handler-call.ts';
import { MultiplexConnection } from './multiplex-connection.ts';
import type { JsonData } from '../../protocol/json-text.ts';

/** §4.5.1: how long a call in "auto" mode waits for a greeting, once per handler process. */
export const GREETING_WAIT_MS = 50;
/** How long a new connection waits for the greeting once the handler is known to speak multiplex/1. */
const REQUIRED_GREETING_WAIT_MS = 1000;
export interface HandlerPoolOptions {
  /**
   * Identifies the handler process now running (a managed handler's pid), or undefined when the
   * daemon cannot tell (an external handler): what was learned is forgotten when it changes, and
   * for external handlers after any connection failure.
   */
  readonly processOf: (type: string) => number | null | undefined;
}

type Learned = 'unknown' | 'original' | 'multiplex';

/** What the daemon uses with a handler process now (docs/protocol.md §9.4.3, `handlers`). */
export interface HandlerProtocolStatus {
  /** "unknown": "auto" mode, and no call has found out yet since the handler (re)started (§4.5.1). */
  readonly protocol: Learned;
  /** Open multiplex/1 connections (0 for a handler called the original way). */
  readonly connections: number;
}

/** One handler's state: what it speaks, and its multiplex connections. */
interface Entry {
  process: number | null | undefined;
  learned: Learned;
  /** The call finding out what the handler speaks; others wait for it instead of probing too. */
  negotiating: Promise<void> | null;
  readonly connections: Set<MultiplexConnection>;
  /** A connection being opened (at most one at a time). */
  opening: Promise<MultiplexConnection> | null;
}

export class HandlerPool {
  readonly #o: HandlerPoolOptions;
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  constructor(options: HandlerPoolOptions) {
    this.#o = options;
  }

  /** Same contract as callHandler (handler-call.ts): resolves with the reply, rejects only with BesterError. */
  call(handler: HandlerConfig, data: unknown, options: HandlerCallOptions): Promise<JsonData> {
    if (handler.protocol === 'original') return callHandler(handler.socketPath, data, options);
    if (handler.protocol === 'multiplex') return this.#callMultiplex(this.#entry(handler), handler, data, options, true);
    // The settled case without an extra async frame per message (the hot path); the rest below.
    const entry = this.#entry(handler);
    if (entry.learned === 'multiplex') return this.#callMultiplex(entry, handler, data, options, false);
    return this.#callAuto(handler, data, options);
  }

  async #callAuto(handler: HandlerConfig, data: unknown, options: HandlerCallOptions): Promise<JsonData> {
    for (;;) {
      // Looked up again after each wait: the handler may have been restarted meanwhile.
      const entry = this.#entry(handler);
      if (entry.learned === 'original') return this.#callOriginal(entry, handler, data, options);
      if (entry.learned === 'multiplex') return this.#callMultiplex(entry, handler, data, options, false);
      if (entry.negotiating === null) return this.#negotiate(entry, handler, data, options);
      await entry.negotiating;
      if (options.signal?.aborted === true) throw shuttingDown(handler.socketPath);
    }
  }

  /** What the daemon speaks with the handler's current process, and over how many open connections. Read-only. */
  describe(handler: HandlerConfig): HandlerProtocolStatus {
    if (handler.protocol === 'original') return { protocol: 'original', connections: 0 };
    const entry = this.#entries.get(handler.type);
    // An entry left from an earlier process says nothing about this one (#entry replaces it on the next call).
    const current = entry !== undefined && entry.process === this.#o.processOf(handler.type) ? entry : undefined;
    let open = 0;
    for (const connection of current?.connections ?? []) if (connection.isOpen) open++;
    if (handler.protocol === 'multiplex') return { protocol: 'multiplex', connections: open };
    const learned = current?.learned ?? 'unknown';
    return { protocol: learned, connections: learned === 'multiplex' ? open : 0 };
  }

  /** Closes every multiplex connection; calls waiting on them get `handler_bad_reply`. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) for (const connection of entry.connections) connection.close();
    this.#entries.clear();
  }

  #entry(handler: HandlerConfig): Entry {
    const process = this.#o.processOf(handler.type);
    let entry = this.#entries.get(handler.type);
    if (entry && entry.process !== process) {
      // A new handler process: forget what the last one spoke; its connections are gone or going.
      for (const connection of entry.connections) connection.close();
      entry = undefined;
    }
    if (!entry) {
      entry = { process, learned: 'unknown', negotiating: null, connections: new Set(), opening: null };
      this.#entries.set(handler.type, entry);
    }
    return entry;
  }

  /** §4.5.1, "auto": connect, wait for a greeting; with none, this same connection carries the call the original way. */
  async #negotiate(entry: Entry, handler: HandlerConfig, data: unknown, options: HandlerCallOptions): Promise<JsonData> {
    const done = Promise.withResolvers<void>();
    entry.negotiating = done.promise;
    const startedAt = performance.now();
    const waitMs = Math.max(1, Math.min(GREETING_WAIT_MS, options.timeoutMs));
    const connection = this.#newConnection(entry, handler, options, waitMs, false);
    try {
      const greeted = await connection.greeted;
      if (greeted.kind === 'multiplex') {
        entry.learned = 'multiplex';
        entry.connections.add(connection);
        done.resolve();
        return await connection.call(data, { ...options, timeoutMs: remaining(options.timeoutMs, startedAt) });
      }
      entry.learned = 'original';
      done.resolve();
      return await callOnConnectedSocket(handler.socketPath, greeted.socket, data, {
        ...options,
        timeoutMs: remaining(options.timeoutMs, startedAt),
      });
    } catch (err) {
      if (entry.learned === 'unknown') this.#forget(entry);
      throw err;
    } finally {
      done.resolve();
      if (entry.negotiating === done.promise) entry.negotiating = null;
    }
  }

  async #callOriginal(entry: Entry, handler: HandlerConfig, data: unknown, options: HandlerCallOptions): Promise<JsonData> {
    try {
      return await callHandler(handler.socketPath, data, options);
    } catch (err) {
      // An external handler that cannot be reached may come back as another program: ask again.
      if (err instanceof BesterError && err.code === 'handler_unavailable') this.#forget(entry);
      throw err;
    }
  }

  #callMultiplex(entry: Entry, handler: HandlerConfig, data: unknown, options: HandlerCallOptions, forced: boolean): Promise<JsonData> {
    const startedAt = performance.now();
    let picked: MultiplexConnection | Promise<MultiplexConnection>;
    try {
      picked = this.#pick(entry, handler, options, forced);
    } catch (err) {
      return Promise.reject(err instanceof BesterError ? err : new BesterError('internal_error', String(err), { cause: err }));
    }
    // An open connection at hand: no time was spent waiting, the call gets its whole timeout.
    if (picked instanceof MultiplexConnection) return picked.call(data, options);
    return picked.then((connection) => {
      if (options.signal?.aborted === true) throw shuttingDown(handler.socketPath);
      return connection.call(data, { ...options, timeoutMs: remaining(options.timeoutMs, startedAt) });
    });
  }

  /**
   * The open connection with the fewest calls waiting; another one is opened while all are busy and
   * the handler's `connections` (handlers.typeMap.T.connections, §4.5.3) are not all open yet.
   * The connection itself when one is at hand; a promise only when the call must wait for one to open.
   */
  #pick(entry: Entry, handler: HandlerConfig, options: HandlerCallOptions, forced: boolean): MultiplexConnection | Promise<MultiplexConnection> {
    let best: MultiplexConnection | null = null;
    for (const connection of entry.connections) {
      if (connection.isOpen && (best === null || connection.pending < best.pending)) best = connection;
    }
    const size = handler.connections;
    if (best !== null && (best.pending === 0 || entry.connections.size >= size || entry.opening !== null)) return best;
    if (entry.opening === null) {
      const waitMs = forced ? Math.min(REQUIRED_GREETING_WAIT_MS, options.timeoutMs) : REQUIRED_GREETING_WAIT_MS;
      const connection = this.#newConnection(entry, handler, options, waitMs, true);
      const opening = connection.greeted.then(() => {
        entry.connections.add(connection);
        return connection;
      });
      entry.opening = opening;
      const clear = (): void => {
        if (entry.opening === opening) entry.opening = null;
      };
      opening.then(clear, clear);
      if (best !== null) {
        opening.catch(() => undefined); // a spare connection; the call goes to `best`
        return best;
      }
    }
    if (best !== null) return best;
    return entry.opening.catch((err: unknown) => {
      if (!forced) this.#forget(entry);
      throw err;
    });
  }

  #newConnection(entry: Entry, handler: HandlerConfig, options: HandlerCallOptions, waitMs: number, required: boolean): MultiplexConnection {
    const connection = new MultiplexConnection(
      {
        socketPath: handler.socketPath,
        maxReplyBytes: options.maxReplyBytes,
        ...(options.maxJsonDepth !== undefined ? { maxJsonDepth: options.maxJsonDepth } : {}),
        onClosed: (closed) => {
          const had = entry.connections.delete(closed);
          // An external handler whose connection dropped may have been replaced: ask again (§4.5.1).
          if (had && entry.process === undefined && handler.protocol === 'auto') this.#forget(entry);
        },
      },
      waitMs,
      required,
    );
    if (this.#closed) connection.close();
    return connection;
  }

  /** Forget what the handler speaks: the next call negotiates again. */
  #forget(entry: Entry): void {
    entry.learned = 'unknown';
  }
}

/** What is left of a call's time after `startedAt` (at least 1 ms: the timer still fires). */
function remaining(timeoutMs: number, startedAt: number): number {
  return Math.max(1, Math.round(timeoutMs - (performance.now() - startedAt)));
}

function shuttingDown(socketPath: string): BesterError {
  return new BesterError('shutting_down', `call to handler socket ${socketPath} cancelled: shutting down`);
}
