// How the daemon calls each handler (docs/protocol.md §4.1, §4.5): the map from a handler's type
// to its link (handler-link.ts), chosen by the handler's `protocol`: OriginalLink, MultiplexLink,
// or AutoLink ("auto": what it learned holds for that handler process). A link that depends on
// the process is made anew when the handler process changes.
import type { HandlerConfig } from '../config/types.ts';
import { JsonData } from '../../protocol/json-text.ts';
import { AutoLink } from './auto-link.ts';
import type { HandlerCallOptions } from './handler-call.ts';
import type { BesterError } from '../../protocol/errors.ts';
import { callBySend, type CallReceiver, type HandlerLink, type HandlerProtocolStatus } from './handler-link.ts';
import { MultiplexLink } from './multiplex-link.ts';
import { OriginalLink } from './original-link.ts';

export { GREETING_WAIT_MS } from './auto-link.ts';
export type { HandlerProtocolStatus } from './handler-link.ts';

export interface HandlerPoolOptions {
  /**
   * Identifies the handler process now running (a managed handler's pid), or undefined when the
   * daemon cannot tell (an external handler): what was learned is forgotten when it changes, and
   * for external handlers after any connection failure.
   */
  readonly processOf: (type: string) => number | null | undefined;
}

/** One handler's link, the process it was made for, and its calls in progress (so that a retired link is closed only once they have ended). */
interface Entry {
  readonly process: number | null | undefined;
  readonly link: HandlerLink;
  calls: number;
}

export class HandlerPool {
  readonly #o: HandlerPoolOptions;
  readonly #entries = new Map<string, Entry>();
  /** Retired links waiting for their calls to end. */
  readonly #retiring = new Set<Entry>();
  #closed = false;

  constructor(options: HandlerPoolOptions) {
    this.#o = options;
  }

  /** The HandlerLink contract (handler-link.ts): resolves with the reply, rejects only with BesterError. `data`: a JsonData (the router), or a plain value. */
  call(handler: HandlerConfig, data: unknown, options: HandlerCallOptions): Promise<JsonData> {
    return callBySend((receiver) => this.send(handler, data, options, receiver));
  }

  /** call(), its end told to `receiver` (handler-link.ts CallReceiver): the message path's form. */
  send(handler: HandlerConfig, data: unknown, options: HandlerCallOptions, receiver: CallReceiver): void {
    const input = data instanceof JsonData ? data : new JsonData(data);
    // The count travels with the call (its entry): no lookup per call to count it or to give it back.
    const entry = this.#entryOf(handler);
    entry.calls++;
    entry.link.send(input, options, new PoolCall(this, entry, receiver));
  }

  /** A call on `entry`'s link ended: a retired link is closed once its last call has. */
  ended(entry: Entry): void {
    if (--entry.calls > 0) return;
    if (this.#retiring.delete(entry)) entry.link.close();
  }

  /** What the daemon speaks with the handler's current process, and over how many open connections. Read-only. */
  describe(handler: HandlerConfig): HandlerProtocolStatus {
    if (handler.protocol === 'original') return { protocol: 'original', connections: 0 };
    const entry = this.#entries.get(handler.type);
    // A link left from an earlier process says nothing about this one (#entryOf replaces it on the next call).
    if (entry === undefined || entry.process !== this.#o.processOf(handler.type)) {
      return { protocol: handler.protocol === 'multiplex' ? 'multiplex' : 'unknown', connections: 0 };
    }
    return entry.link.status();
  }

  /** The handler's entry (its link) for its current process: made on first use, and anew when the process changed. */
  #entryOf(handler: HandlerConfig): Entry {
    let entry = this.#entries.get(handler.type);
    // The original way learns nothing about the process: no need to ask which one runs (the hot path).
    if (entry !== undefined && handler.protocol === 'original') return entry;
    const process = this.#o.processOf(handler.type);
    if (entry !== undefined && entry.process === process) return entry;
    // A new handler process: forget what the last one spoke; its connections are gone or going.
    entry?.link.close();
    entry = { process, link: this.#newLink(handler, process), calls: 0 };
    if (this.#closed) entry.link.close();
    else this.#entries.set(handler.type, entry);
    return entry;
  }

  /**
   * A reload changed or removed the handler of `type`: the next call makes a new link with its new
   * entry; the old link is closed once the calls already on it have ended (they finish as they began).
   */
  retire(type: string): void {
    const entry = this.#entries.get(type);
    if (entry === undefined) return;
    this.#entries.delete(type);
    if (entry.calls === 0) entry.link.close();
    else this.#retiring.add(entry);
  }

  /** Closes every link; calls waiting on them get `handler_bad_reply`. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) entry.link.close();
    for (const entry of this.#retiring) entry.link.close();
    this.#entries.clear();
    this.#retiring.clear();
  }

  #newLink(handler: HandlerConfig, process: number | null | undefined): HandlerLink {
    if (handler.protocol === 'original') return new OriginalLink(handler.socketPath);
    if (handler.protocol === 'multiplex') return new MultiplexLink(handler, { forced: true });
    return new AutoLink(handler, process === undefined);
  }
}

/** One call through the pool: counted on its link until it ends, then told to the caller's receiver. */
class PoolCall implements CallReceiver {
  readonly #pool: HandlerPool;
  readonly #entry: Entry;
  readonly #receiver: CallReceiver;

  constructor(pool: HandlerPool, entry: Entry, receiver: CallReceiver) {
    this.#pool = pool;
    this.#entry = entry;
    this.#receiver = receiver;
  }

  reply(reply: JsonData): void {
    this.#pool.ended(this.#entry);
    this.#receiver.reply(reply);
  }

  fail(err: BesterError): void {
    this.#pool.ended(this.#entry);
    this.#receiver.fail(err);
  }
}
