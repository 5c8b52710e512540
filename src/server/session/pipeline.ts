// The messages of one logged-in connection (docs/protocol.md §3.1, §3.3, §5). Up to
// `limits.pipelineDepth` of them have their handler calls in progress at once; what the users
// see stays in the order the messages were sent: each message's final command (deliveries,
// offline storing, federation forward) and its status report wait until every earlier message of
// the connection was applied and answered (a reorder queue: each MessageTask, below, is the next
// one's turn). A message is carried by callbacks, not promises: its task receives its plan from the
// router (PlanReceiver), and its turn from the message before it.
// With depth 1 the messages are handled strictly one at a time, as the original did.
// Imported, not the global (a getter), as in handlers/multiplex-connection.ts: it is read for
// every message while `message.handled` has a listener.
import { performance } from 'node:perf_hooks';
import { dummyReply, statusReport } from '../../protocol/builders.ts';
import { goodReportFrame } from '../../protocol/frame-pieces.ts';
import { Fifo } from '../../protocol/fifo.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import { builtinCommand } from '../../protocol/messages.ts';
import type { ServerConfig } from '../config/types.ts';
import type { ServerEvents } from '../events.ts';
import { describeThrown, type Logger } from '../log.ts';
import type { RoutePlan } from '../routing/route-plan.ts';
import { SHUTTING_DOWN, type DispatchContext, type Outcome, type PlanReceiver, type Router, type Work } from '../routing/router.ts';
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
  /** Queues one answer on the connection: a value, or its frame already encoded. */
  answer(value: object | Buffer): void;
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
  /** A Fifo, not an array: a message pushed and taken at once would regrow an array's store each time. */
  readonly #queue = new Fifo<InboundMessage>();
  /** Started (handler calls in progress, or waiting for their turn), not answered yet. */
  #running = 0;
  /**
   * The last started message's task: its turn is done once it was applied and answered, which is
   * the next one's go. Done with false when the connection stopped meanwhile: the later messages carry nothing out.
   */
  #tail: MessageTask | null = null;
  #open = false;
  /** What the tasks need of their pipeline (one object for all of them). */
  readonly #core: TaskCore;

  constructor(options: PipelineOptions) {
    this.#o = options;
    this.#depth = Math.max(1, options.config.limits.pipelineDepth);
    this.#core = {
      o: options,
      // A DispatchContext's `later`: other messages of this connection wait or run.
      later: () => this.#queue.length > 0 || this.#running > 1,
      isOpen: () => this.#open,
      done: () => this.#done(),
    };
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
    this.#queue.clear();
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
      this.#running++;
      const task = new MessageTask(this.#core, next, this.#tail);
      this.#tail = task;
      task.begin(next.data);
    }
    if (this.#running === 0 && this.#queue.length === 0) this.#o.host.pipelineIdle();
  }

  /** A task was answered and its turn ended. */
  #done(): void {
    this.#running--;
    if (this.#queue.length < MAX_QUEUED / 2) this.#o.host.resumeReading();
    this.#pump();
  }
}

/** What a message's task needs of its pipeline. */
interface TaskCore {
  readonly o: PipelineOptions;
  readonly later: () => boolean;
  isOpen(): boolean;
  done(): void;
}

/**
 * What a task does once its turn comes: send its answer, known already (a built-in message, a
 * failure); `builtin close`, closing the connection once the earlier messages are answered; or
 * carry out the plan its handler chain gives.
 */
type Step = 'answer' | 'close' | 'route';

/** A task's answer that is the good status report for its id (frame-pieces.ts goodReportFrame). */
const GOOD_REPORT: object = Object.freeze({});

/**
 * One message: its work at once, its answer in its turn, then the next one's go. It is also the
 * message's DispatchContext (sender, id, later) and receives its plan (PlanReceiver): the common
 * message allocates this one object where a promise chain allocated one per layer.
 */
class MessageTask implements PlanReceiver, DispatchContext {
  readonly #core: TaskCore;
  /**
   * The message's type (its id is `id`); not its data, which begin() hands on, so that the data's
   * text and value (the client's whole frame) are not held while the handler works. With many
   * messages in flight and slow handlers they would live long enough to be moved to the old
   * generation, where only a full collection frees them.
   */
  readonly #type: string;
  /** The task before this one, until its turn was seen done (then null: no chain of old tasks is kept). */
  #before: MessageTask | null;
  /** Whether the connection was open when this task's turn ended; undefined while it has not. */
  #ended: boolean | undefined = undefined;
  /** The task waiting for this one's turn to end. */
  #waiter: MessageTask | null = null;
  #step: Step = 'answer';
  /**
   * The answer to send in the message's turn: a status report or reply, or GOOD_REPORT (its frame
   * encoded only then: a frame held while earlier messages finish would hold the slab it is in).
   */
  #answer: object | null = null;
  #plan: RoutePlan | null = null;
  #work: Work | null = null;
  /** When the handler chain began, if anybody listened to `message.handled` then; else -1 (no clock read, no event). */
  #started = -1;
  readonly sender: string | null;
  readonly id: string;
  readonly later: () => boolean;

  constructor(core: TaskCore, msg: InboundMessage, before: MessageTask | null) {
    this.#core = core;
    this.#type = msg.type;
    this.#before = before;
    this.sender = core.o.host.username;
    this.id = msg.id;
    this.later = core.later;
  }

  /** Starts the message's work with its data; its side effects wait for its turn. */
  begin(data: JsonData): void {
    const type = this.#type;
    const { config, router } = this.#core.o;
    try {
      if (type === 'dummy') {
        this.#answer = dummyReply(this.id);
      } else if (type === 'ping' && !config.handlers.has('ping')) {
        // §5.3 [ours]: ping and pong are built in unless the config has a handler for them.
        this.#answer = GOOD_REPORT;
      } else if (type === 'pong' && !config.handlers.has('pong')) {
        this.#answer = null; // answers our ping: no report
      } else if (type === 'builtin') {
        const command = builtinCommand(data.value);
        if (command === 'close') this.#step = 'close';
        else this.#answer = statusReport(this.id, false, { code: 'unknown_builtin', reason: `unknown builtin command ${JSON.stringify(command)}` });
      } else {
        // A message for a handler: its chain at once, what it decided carried out in its turn (§3.1).
        this.#work = router.begin();
        if (this.#work === null) {
          this.#answer = statusReport(this.id, false, SHUTTING_DOWN);
        } else {
          this.#step = 'route';
          const events = this.#core.o.events;
          if (events?.has('message.handled') === true) this.#started = performance.now();
          this.#route(router, data);
          return;
        }
      }
    } catch (err) {
      this.#internalError(err);
    }
    this.#waitTurn();
  }

  #route(router: Router, data: JsonData): void {
    try {
      router.routeTo(this.#type, data, this, this);
    } catch (err) {
      // Thrown after the plan was told (it is being carried out): only logged.
      if (this.#plan !== null || this.#ended !== undefined) this.#core.o.log.error({ err: describeThrown(err), id: this.id }, 'message handling failed');
      else this.failed(err);
    }
  }

  /** PlanReceiver: the handler chain decided. */
  planned(plan: RoutePlan): void {
    if (this.#step !== 'route' || this.#plan !== null) return;
    this.#plan = plan;
    this.#waitTurn();
  }

  /** PlanReceiver: a handler's answer could not even be read (a hostile value from an embedder's caller). */
  failed(err: unknown): void {
    if (this.#step !== 'route' || this.#plan !== null) return;
    this.#internalError(err);
    this.#waitTurn();
  }

  /** The per-connection boundary: whatever was thrown, this message gets one answer and the others go on. */
  #internalError(err: unknown): void {
    this.#core.o.log.error({ err: describeThrown(err), id: this.id }, 'message handling failed');
    this.#endWork();
    this.#step = 'answer';
    this.#answer = statusReport(this.id, false, { code: 'internal_error', reason: 'internal error' });
  }

  #endWork(): void {
    this.#work?.end();
    this.#work = null;
  }

  /** Goes on at once if the message before has ended its turn (the common case), else when it does. */
  #waitTurn(): void {
    const before = this.#before;
    if (before === null) {
      this.#go(true);
      return;
    }
    if (before.#ended === undefined) {
      before.#waiter = this;
      return;
    }
    this.#go(before.#ended);
  }

  /** This message's turn: carried out (`open`: the connection had not stopped), answered, and the next one's go. */
  #go(open: boolean): void {
    this.#before = null;
    if (this.#step === 'close') {
      try {
        if (open) {
          this.#core.o.log.debug('builtin close');
          this.#core.o.host.closeFor('client_close');
        }
      } catch (err) {
        this.#internalError(err);
      }
      this.#finish();
      return;
    }
    if (this.#step === 'route') {
      if (!open) {
        this.#endWork();
        this.#answer = statusReport(this.id, false, { code: 'shutting_down', reason: 'the connection closed before this message was carried out' });
        this.#finish();
        return;
      }
      let carried: Outcome | Promise<Outcome>;
      try {
        carried = this.#core.o.router.carryOut(this.#plan!, this);
      } catch (err) {
        this.#internalError(err);
        this.#finish();
        return;
      }
      if (carried instanceof Promise) {
        carried.then(
          (outcome) => this.#carried(outcome),
          (err: unknown) => {
            this.#internalError(err);
            this.#finish();
          },
        );
      } else this.#carried(carried);
      return;
    }
    this.#finish();
  }

  /** The plan was carried out: the sender's status report (§3.3). */
  #carried(outcome: Outcome): void {
    this.#endWork();
    try {
      // The event and its clock read only when somebody listened as the message began (the usual daemon has no listener).
      if (this.#started !== -1) {
        this.#core.o.events?.emit('message.handled', { type: this.#type, outcome: outcome.good ? 'good' : outcome.code, ms: performance.now() - this.#started });
      }
      if (outcome.good && outcome.servers === undefined && outcome.stored === undefined) this.#answer = GOOD_REPORT;
      else this.#answer = statusReport(this.id, outcome.good, outcome);
    } catch (err) {
      this.#internalError(err);
    }
    this.#finish();
  }

  /** Answers (also when the connection is gone: it is then dropped; the message was started), ends the turn. */
  #finish(): void {
    const core = this.#core;
    try {
      const answer = this.#answer;
      if (answer !== null) core.o.host.answer(answer === GOOD_REPORT ? goodReportFrame(this.id) : answer);
    } catch (err) {
      core.o.log.error({ err: describeThrown(err), id: this.id }, 'answering a message failed');
    }
    this.#ended = core.isOpen();
    // Nothing carried is held past the turn: the next task points to this one (#before) until its
    // own turn, which can be a handler call later; the handler's result and the answer would
    // live that long, long enough to be moved to the old generation (docs/performance.md). A
    // plan told now is not wanted (planned() and failed() take one only in the 'route' step).
    this.#plan = null;
    this.#answer = null;
    this.#step = 'answer';
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      const open = this.#ended;
      // In a microtask of its own, as a promise would: no recursion through a run of waiting messages.
      queueMicrotask(() => waiter.#go(open));
    }
    try {
      core.done();
    } catch (err) {
      core.o.log.error({ err: describeThrown(err), id: this.id }, 'starting the next message failed');
    }
  }
}
