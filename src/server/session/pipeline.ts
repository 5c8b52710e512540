// The messages of one logged-in connection (docs/protocol.md §3.1, §3.3, §5). Up to
// `limits.pipelineDepth` of them have their handler calls in progress at once; what the users
// see stays in the order the messages were sent: each message's final command (deliveries,
// offline storing, federation forward) and its status report wait until every earlier message of
// the connection was applied and answered (a reorder queue of one promise per message: its `turn`).
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
   * Resolves once the last started message was applied and answered: the next one's turn. It
   * resolves false when the connection stopped meanwhile: the later messages carry nothing out.
   */
  #tail: Promise<boolean> = Promise.resolve(true);
  #open = false;

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
    const { promise, resolve } = Promise.withResolvers<boolean>();
    this.#tail = promise;
    const done = (): void => {
      resolve(this.#open);
      this.#running--;
      if (this.#queue.length < MAX_QUEUED / 2) this.#o.host.resumeReading();
      this.#pump();
    };
    this.#run(msg, turn).then(done, done);
  }

  /** One message: its work at once, its answer in its turn. Never rejects. */
  async #run(msg: InboundMessage, turn: Promise<boolean>): Promise<void> {
    let answer: object | null;
    try {
      answer = await this.#handle(msg, turn);
    } catch (err) {
      // The per-connection boundary: whatever was thrown, this message gets one answer and the others go on.
      this.#o.log.error({ err: describeThrown(err), id: msg.id }, 'message handling failed');
      answer = statusReport(msg.id, false, { code: 'internal_error', reason: 'internal error' });
    }
    // Sent when the connection is gone too (it is then dropped): the message was started.
    await turn;
    if (answer !== null) this.#o.host.answer(answer);
  }

  /** The answer to send (null: none); side effects only once `turn` resolved. */
  async #handle(msg: InboundMessage, turn: Promise<boolean>): Promise<object | null> {
    const { config, router } = this.#o;
    if (msg.type === 'dummy') return dummyReply(msg.id);
    // §5.3 [ours]: ping and pong are built in unless the config has a handler for them.
    if (msg.type === 'ping' && !config.handlers.has('ping')) return statusReport(msg.id, true);
    if (msg.type === 'pong' && !config.handlers.has('pong')) return null; // answers our ping: no report
    if (msg.type === 'builtin') {
      const command = builtinCommand(msg.data.value);
      if (command !== 'close') {
        return statusReport(msg.id, false, { code: 'unknown_builtin', reason: `unknown builtin command ${JSON.stringify(command)}` });
      }
      if (!(await turn)) return null; // earlier messages are answered first
      this.#o.log.debug('builtin close');
      this.#o.host.closeFor('client_close');
      return null;
    }
    // The handler chain runs at once; what it decided is carried out in this message's turn (§3.1).
    const work = router.begin();
    if (work === null) return statusReport(msg.id, false, SHUTTING_DOWN);
    const events = this.#o.events?.has('message.handled') === true ? this.#o.events : null;
    const started = events === null ? 0 : performance.now();
    let outcome: Outcome;
    try {
      // `later`: a sendServers report does not wait for the peer's ack while others wait behind it (docs/federation.md §4).
      const context = { sender: this.#o.host.username, id: msg.id, later: () => this.#queue.length > 0 || this.#running > 1 };
      const plan = await router.route(msg.type, msg.data, context);
      if (!(await turn)) return statusReport(msg.id, false, { code: 'shutting_down', reason: 'the connection closed before this message was carried out' });
      outcome = await router.carryOut(plan, context);
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
