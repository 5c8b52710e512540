// The messages of one logged-in connection (docs/protocol.md §3.1, §3.3, §5). Up to
// `limits.pipelineDepth` of them have their handler calls in progress at once; what the users
// see stays in the order the messages were sent: each message's final command (deliveries,
// offline storing, federation forward) and its status report wait until every earlier message of
// the connection was applied and answered (a reorder queue of one Turn per message, below).
// With depth 1 the messages are handled strictly one at a time, as the original did.
import { dummyReply, statusReport } from '../../protocol/builders.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import { builtinCommand } from '../../protocol/messages.ts';
import type { ServerConfig } from '../config/types.ts';
import type { ServerEvents } from '../events.ts';
import { describeThrown, type Logger } from '../log.ts';
import { SHUTTING_DOWN, type Outcome, type Router } from '../routing/router.ts';
import type { CloseReason } from './close-counters.ts';

/** Messages read ahead of those started before the socket is paused (resumed below half of it). */
const MAX_QUEUED = 32;

/** A client message as the pipeline carries it: its data with the text it was sent as (§3.2). */
export interface InboundMessage {
  readonly type: string;
  readonly id: string;
  readonly data: JsonData;
}

/** What the pipeline needs of its connection; the session implements it (session.ts). */
export interface PipelineHost {
  /** The user the connection logged in as. */
  readonly username: string | null;
  /** Queues one answer on the connection. */
  answer(value: object): void;
  /** `builtin close` (§5.2): closes once the answers before it are written. */
  closeFor(reason: CloseReason): void;
  /** Stops and restarts reading the connection (the pipeline's queue is full, then half empty). */
  pauseReading(): void;
  resumeReading(): void;
  /** Nothing queued and nothing in progress any more. */
  pipelineIdle(): void;
}

export interface PipelineOptions {
  readonly config: ServerConfig;
  readonly router: Router;
  readonly log: Logger;
  readonly host: PipelineHost;
  /** Told `message.handled` for every message answered (docs/architecture.md, Events). */
  readonly events?: ServerEvents;
}

export class MessagePipeline {
  readonly #o: PipelineOptions;
  readonly #depth: number;
  /** Read, not started yet. */
  readonly #queue: InboundMessage[] = [];
  /** Started (handler calls in progress, or waiting for their turn), not answered yet. */
  #running = 0;
  /**
   * The last started message's turn: done once it was applied and answered, which is the next
   * one's go. Done with false when the connection stopped meanwhile: the later messages carry nothing out.
   */
  #tail = Turn.DONE;
  #open = false;
  /** A DispatchContext's `later`: other messages of this connection wait or run (one function for all of them). */
  readonly #later = (): boolean => this.#queue.length > 0 || this.#running > 1;

  constructor(options: PipelineOptions) {
    this.#o = options;
    this.#depth = Math.max(1, options.config.limits.pipelineDepth);
  }

  /** True while messages are queued or in progress (the client is then not pinged, §5.3). */
  get busy(): boolean {
    return this.#running > 0 || this.#queue.length > 0;
  }

  /** Messages handled at once from here on (after the kept deliveries were written at login). */
  start(): void {
    this.#open = true;
    this.#pump();
  }

  /** The connection is closing: queued messages are dropped; those in progress finish. */
  stop(): void {
    this.#open = false;
    this.#queue.length = 0;
  }

  push(msg: InboundMessage): void {
    this.#queue.push(msg);
    if (this.#queue.length >= MAX_QUEUED) this.#o.host.pauseReading();
    this.#pump();
  }

  #pump(): void {
    while (this.#open && this.#running < this.#depth) {
      const next = this.#queue.shift();
      if (next === undefined) break;
      this.#start(next);
    }
    if (this.#running === 0 && this.#queue.length === 0) this.#o.host.pipelineIdle();
  }

  #start(msg: InboundMessage): void {
    this.#running++;
    const turn = this.#tail;
    const mine = new Turn();
    this.#tail = mine;
    void this.#run(msg, turn, mine);
  }

  /** One message: its work at once, its answer in its turn, then the next one's go (`mine`). Never rejects. */
  async #run(msg: InboundMessage, turn: Turn, mine: Turn): Promise<void> {
    try {
      let answer: object | null;
      try {
        const handled = this.#handle(msg, turn);
        answer = handled instanceof Promise ? await handled : handled;
      } catch (err) {
        // The per-connection boundary: whatever was thrown, this message gets one answer and the others go on.
        this.#o.log.error({ err: describeThrown(err), id: msg.id }, 'message handling failed');
        answer = statusReport(msg.id, false, { code: 'internal_error', reason: 'internal error' });
      }
      // Sent when the connection is gone too (it is then dropped): the message was started.
      const go = turn.go();
      if (go instanceof Promise) await go;
      if (answer !== null) this.#o.host.answer(answer);
    } catch (err) {
      this.#o.log.error({ err: describeThrown(err), id: msg.id }, 'answering a message failed');
    } finally {
      mine.end(this.#open);
      this.#running--;
      if (this.#queue.length < MAX_QUEUED / 2) this.#o.host.resumeReading();
      this.#pump();
    }
  }

  /** The answer to send (null: none), at once or later; side effects only once `turn` is done. */
  #handle(msg: InboundMessage, turn: Turn): object | null | Promise<object | null> {
    const { config } = this.#o;
    if (msg.type === 'dummy') return dummyReply(msg.id);
    // §5.3 [ours]: ping and pong are built in unless the config has a handler for them.
    if (msg.type === 'ping' && !config.handlers.has('ping')) return statusReport(msg.id, true);
    if (msg.type === 'pong' && !config.handlers.has('pong')) return null; // answers our ping: no report
    if (msg.type === 'builtin') {
      const command = builtinCommand(msg.data.value);
      if (command !== 'close') {
        return statusReport(msg.id, false, { code: 'unknown_builtin', reason: `unknown builtin command ${JSON.stringify(command)}` });
      }
      return this.#close(turn);
    }
    return this.#route(msg, turn);
  }

  /** `builtin close`: once the earlier messages are answered (null: no answer). */
  async #close(turn: Turn): Promise<null> {
    if (!(await turn.go())) return null;
    this.#o.log.debug('builtin close');
    this.#o.host.closeFor('client_close');
    return null;
  }

  /** A message for a handler: its chain at once, what it decided carried out in its turn. */
  async #route(msg: InboundMessage, turn: Turn): Promise<object | null> {
    const { router } = this.#o;
    // The handler chain runs at once; what it decided is carried out in this message's turn (§3.1).
    const work = router.begin();
    if (work === null) return statusReport(msg.id, false, SHUTTING_DOWN);
    const events = this.#o.events?.has('message.handled') === true ? this.#o.events : null;
    const started = events === null ? 0 : performance.now();
    let outcome: Outcome;
    try {
      // `later`: a sendServers report does not wait for the peer's ack while others wait behind it (docs/federation.md §4).
      const context = { sender: this.#o.host.username, id: msg.id, later: this.#later };
      const plan = await router.route(msg.type, msg.data, context);
      const go = turn.go();
      if (!(go instanceof Promise ? await go : go)) return statusReport(msg.id, false, { code: 'shutting_down', reason: 'the connection closed before this message was carried out' });
      const carried = router.carryOut(plan, context);
      outcome = carried instanceof Promise ? await carried : carried;
    } finally {
      work.end();
    }
    events?.emit('message.handled', { type: msg.type, outcome: outcome.good ? 'good' : outcome.code, ms: performance.now() - started });
    if (!outcome.good) return statusReport(msg.id, false, outcome);
    if (outcome.servers === undefined && outcome.stored === undefined) return statusReport(msg.id, true);
    const extra = { ...(outcome.servers ? { servers: outcome.servers } : {}), ...(outcome.stored ? { stored: outcome.stored } : {}) };
    return statusReport(msg.id, true, extra);
  }
}

/**
 * One message's place in the order (the reorder queue is a chain of these): done once the message
 * was applied and answered, with whether the connection was still open. The next message asks
 * go(): the answer at once when it is done (the common case: no promise, no extra microtask), else
 * a promise made then, on first need.
 */
class Turn {
  /** The turn before the first message: done, open. */
  static readonly DONE = Turn.#done();

  #open: boolean | undefined;
  #waiting: PromiseWithResolvers<boolean> | null = null;

  static #done(): Turn {
    const turn = new Turn();
    turn.#open = true;
    return turn;
  }

  /** Whether the connection was open when this turn ended: at once if it has, else when it does. */
  go(): boolean | Promise<boolean> {
    if (this.#open !== undefined) return this.#open;
    return (this.#waiting ??= Promise.withResolvers<boolean>()).promise;
  }

  end(open: boolean): void {
    this.#open = open;
    this.#waiting?.resolve(open);
  }
}
