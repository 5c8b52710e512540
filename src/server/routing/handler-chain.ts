// A message's way through its handlers (docs/protocol.md §4): the handler for its type is called,
// its answer planned (route-plan.ts), and a sendHandler hop calls the next handler, until the plan
// says where the result goes. Nothing is carried out here (delivery.ts does that, in the order the
// session's pipeline gives).
import { BesterError } from '../../protocol/errors.ts';
import { JsonData } from '../../protocol/json-text.ts';
import type { HandlerConfig, LimitsConfig } from '../config/types.ts';
import type { HandlerCallOptions } from '../handlers/handler-call.ts';
import type { ServerEvents } from '../events.ts';
import { describeThrown, type Logger } from '../log.ts';
import type { DispatchContext } from './delivery.ts';
import { FairHandlerGate, type GateSlot } from './in-flight.ts';
import { planRoute, refuse, type RoutePlan } from './route-plan.ts';

/** Told how a handler call ended, exactly once (a CallReceiver, handlers/handler-link.ts, that takes any value). */
export interface AnswerReceiver {
  /** The reply as JsonData (with its text when read from a frame, so the result is passed on unchanged), or a bare value. */
  reply(reply: unknown): void;
  /** Why there is no reply: a BesterError names the code the sender is told; anything else is internal_error. */
  fail(err: unknown): void;
}

/**
 * Calls a handler with `data` (its text is what is sent) and tells `receiver` how the call ended,
 * exactly once, at once or later. Must not throw (what it throws is taken as a failed call).
 */
export type HandlerCaller = (handler: HandlerConfig, data: JsonData, options: HandlerCallOptions, receiver: AnswerReceiver) => void;

/** A handler call that answers with a promise (an embedder's, a test's): the reply, or a rejection with why. */
export type PromisedHandlerCaller = (handler: HandlerConfig, data: JsonData, options: HandlerCallOptions) => Promise<unknown>;

/** A HandlerCaller made of a PromisedHandlerCaller. */
export function promisedCaller(call: PromisedHandlerCaller): HandlerCaller {
  return (handler, data, options, receiver) => {
    call(handler, data, options).then(
      (reply) => receiver.reply(reply),
      (err: unknown) => receiver.fail(err),
    );
  };
}

/** Told a message's final plan (PlanReceiver.planned), or that its handler's answer could not even be read (failed). */
export interface PlanReceiver {
  planned(plan: RoutePlan): void;
  failed(err: unknown): void;
}

export interface HandlerChainOptions {
  readonly handlers: ReadonlyMap<string, HandlerConfig>;
  readonly limits: LimitsConfig;
  readonly callHandler: HandlerCaller;
  readonly logger: Logger;
  /** Aborted when a shutdown's grace period runs out: calls still in flight end with 'shutting_down'. */
  readonly signal?: AbortSignal;
  /** Told `handler.called` after every handler call, when someone listens (the clock is read only then). */
  readonly events?: ServerEvents;
  /** This server's node id: the `origin` in the envelope of a message from one of our users (§4.4). */
  readonly nodeId?: string;
}

export class HandlerChain {
  #o: HandlerChainOptions;
  /** Handler calls in progress, per handler (handlers.typeMap.T.maxInFlight). */
  readonly #gate = new FairHandlerGate();
  readonly #hasHandler = (type: string): boolean => this.#o.handlers.has(type);
  #options = new WeakMap<HandlerConfig, HandlerCallOptions>();
  /** What each message's ChainRun starts with (made anew by a reload). */
  #core: ChainCore;

  constructor(options: HandlerChainOptions) {
    this.#o = options;
    this.#core = this.#newCore();
  }

  #newCore(): ChainCore {
    return { o: this.#o, gate: this.#gate, hasHandler: this.#hasHandler, optionsFor: this.#optionsFor };
  }

  /**
   * A reload changed the handlers or the limits: the next message and the next hop use them. Calls
   * in progress finish with the entry they started with.
   */
  reconfigure(handlers: ReadonlyMap<string, HandlerConfig>, limits: LimitsConfig): void {
    this.#o = { ...this.#o, handlers, limits };
    this.#options = new WeakMap();
    this.#core = this.#newCore();
  }

  /** The options of every call to `handler`, made once per handler entry and limits (a reload makes new ones). */
  readonly #optionsFor = (handler: HandlerConfig): HandlerCallOptions => {
    let options = this.#options.get(handler);
    if (options === undefined) {
      const { limits, signal } = this.#o;
      options = Object.freeze({
        timeoutMs: handler.timeoutMs,
        maxReplyBytes: limits.maxHandlerFrameBytes,
        maxJsonDepth: limits.maxJsonDepth,
        ...(signal ? { signal } : {}),
      });
      this.#options.set(handler, options);
    }
    return options;
  };

  /** Calls to the handler for `type` in progress now. */
  inFlight(type: string): number {
    return this.#gate.inFlight(type);
  }

  /**
   * Runs `data` through the handler for `type` and every sendHandler hop after it; resolves with the
   * final plan (deliver, forward or refuse). Rejects only when an answer cannot even be read (a
   * hostile value from an embedder's caller): the caller's boundary answers internal_error.
   * `sender` reaches handlers whose config says `"input": "envelope"` (§4.4).
   */
  route(type: string, data: JsonData, context: DispatchContext): Promise<RoutePlan> {
    return new Promise<RoutePlan>((resolve, reject) => this.routeTo(type, data, context, { planned: resolve, failed: reject }));
  }

  /** route(), the plan told to `receiver` (at once when no handler is called, else when the last one answered). */
  routeTo(type: string, data: JsonData, context: DispatchContext, receiver: PlanReceiver): void {
    new ChainRun(this.#core, type, context, receiver).call(type, data);
  }
}

/** What a ChainRun needs of its chain: the options it started with, and the chain's shared parts. */
interface ChainCore {
  readonly o: HandlerChainOptions;
  readonly gate: FairHandlerGate;
  readonly hasHandler: (type: string) => boolean;
  readonly optionsFor: (handler: HandlerConfig) => HandlerCallOptions;
}

/**
 * One message's way through its handlers: the handler called, its answer planned, the next hop's
 * handler called, until a plan says where the result goes. Receives each call's end itself
 * (AnswerReceiver): no promise per call or per hop.
 */
class ChainRun implements AnswerReceiver {
  readonly #core: ChainCore;
  readonly #type: string;
  readonly #context: DispatchContext;
  readonly #receiver: PlanReceiver;
  /** The handler called now, and the sendHandler hops taken before it. */
  #handler: HandlerConfig | null = null;
  #hops = 0;
  /** The gate's slot the call in progress holds (given back when it ends). */
  #slot: GateSlot | null = null;
  #events: ServerEvents | null = null;
  #started = 0;

  constructor(core: ChainCore, type: string, context: DispatchContext, receiver: PlanReceiver) {
    this.#core = core;
    this.#type = type;
    this.#context = context;
    this.#receiver = receiver;
  }

  /** One handler call within its cap (§4.1.1: over maxInFlight, `overloaded` at once; never queued). */
  call(type: string, data: JsonData): void {
    const { handlers, logger } = this.#core.o;
    const context = this.#context;
    const handler = handlers.get(type);
    // A later hop's handler was checked by the plan; only the first type can be unknown here.
    if (!handler) {
      this.#receiver.planned(refuse('unknown_type', `no handler for type ${JSON.stringify(type)}`));
      return;
    }
    const slot = this.#core.gate.tryEnter(type, handler.maxInFlight, userKey(context), handler.maxInFlightPerUser);
    if (typeof slot === 'string') {
      logger.warn({ handler: type, maxInFlight: handler.maxInFlight, full: slot, sender: context.sender, id: context.id }, 'handler overloaded');
      if (slot === 'user') {
        const share = handler.maxInFlightPerUser;
        this.#receiver.planned(refuse('overloaded', `handler ${JSON.stringify(type)}: you have ${share} calls to it in progress, the most one user may (maxInFlightPerUser), try again later`));
      } else {
        this.#receiver.planned(refuse('overloaded', `handler ${JSON.stringify(type)} is overloaded: ${handler.maxInFlight} calls already in progress, try again later`));
      }
      return;
    }
    this.#handler = handler;
    this.#slot = slot;
    this.#events = this.#core.o.events?.has('handler.called') === true ? this.#core.o.events : null;
    this.#started = this.#events === null ? 0 : performance.now();
    const hops = this.#hops;
    try {
      const input = handler.input === 'envelope' ? envelopeOf(context, type, data, this.#core.o.nodeId ?? null) : data;
      this.#core.o.callHandler(handler, input, this.#core.optionsFor(handler), this);
    } catch (err) {
      // A caller that threw is a failed call, unless it had told this call's end already.
      if (this.#hops === hops && this.#handler === handler) this.fail(err);
    }
  }

  /** AnswerReceiver: the handler called now answered; its answer planned, and the next hop called or the plan told. */
  reply(value: unknown): void {
    const handler = this.#ended();
    if (handler === null) return;
    let plan: RoutePlan;
    // Nothing thrown here reaches the link that told the reply: the sender is answered internal_error.
    try {
      this.#events?.emit('handler.called', { type: handler.type, code: null, ms: performance.now() - this.#started });
      const { limits, logger } = this.#core.o;
      const planned = planRoute(value, {
        handlerType: handler.type,
        messageType: this.#type,
        hops: this.#hops,
        maxHops: limits.maxHandlerHops,
        hasHandler: this.#core.hasHandler,
      });
      plan = planned.plan;
      if (planned.quirk !== null) logger.warn({ handler: handler.type, quirk: planned.quirk }, 'handler reply read leniently');
      if (plan.kind === 'refuse') logger.warn({ handler: handler.type, code: plan.code, reason: plan.reason, id: this.#context.id }, 'handler reply refused');
    } catch (err) {
      this.#receiver.failed(err);
      return;
    }
    if (plan.kind !== 'handler') {
      this.#receiver.planned(plan);
      return;
    }
    this.#hops++;
    this.call(plan.handler, plan.data);
  }

  /** AnswerReceiver: the call failed; the sender is told why (its code, internal_error for anything else). */
  fail(err: unknown): void {
    const handler = this.#ended();
    if (handler === null) return;
    const type = handler.type;
    const e = err instanceof BesterError ? err : new BesterError('internal_error', describeThrown(err).message, { cause: err });
    try {
      this.#core.o.logger.warn({ handler: type, code: e.code, err: e.message, sender: this.#context.sender, id: this.#context.id }, 'handler call failed');
      this.#events?.emit('handler.called', { type, code: e.code, ms: performance.now() - this.#started });
    } catch (thrown) {
      this.#receiver.failed(thrown);
      return;
    }
    this.#receiver.planned(refuse(e.code, `handler ${JSON.stringify(type)}: ${e.message}`));
  }

  /** The call in progress ended: its slot given back. Null if none was in progress (a caller that told twice). */
  #ended(): HandlerConfig | null {
    const handler = this.#handler;
    const slot = this.#slot;
    if (handler === null || slot === null) return null;
    this.#handler = null;
    this.#slot = null;
    this.#core.gate.leave(slot);
    return handler;
  }
}

/** Whose share of a handler a call takes: the sender, per origin server for a peer's messages. */
function userKey(context: DispatchContext): string {
  const sender = context.sender ?? '';
  return context.origin === undefined ? sender : `${context.origin}\u0000${sender}`;
}

const ENVELOPE_END = Buffer.from('}');

/**
 * §4.4: the envelope `{sender, origin, type, id, data}`, its text with the data's own text spliced in.
 * `origin` is the server the message entered the federation at (this one, `self`, for our users'):
 * a sender is a user of that server, so handlers authorise by the pair (docs/handlers.md).
 */
function envelopeOf(context: DispatchContext, type: string, data: JsonData, self: string | null): JsonData {
  const origin = context.origin ?? self;
  const head = `{"sender":${JSON.stringify(context.sender)},"origin":${JSON.stringify(origin)},"type":${JSON.stringify(type)},"id":${JSON.stringify(context.id)},"data":`;
  // Data with its value takes its text (a found member also has its frame's bytes, for frames written from it).
  const source = data.hasValue ? data.text : data.source;
  // Data that came as bytes (a big one of a peer's or a handler's) stays bytes, copied once behind the head.
  if (typeof source !== 'string') return JsonData.ofSource(Buffer.concat([Buffer.from(head), source, ENVELOPE_END]));
  const text = `${head}${source}}`;
  // Data known by its text only (a peer's, a big handler result) stays unparsed in the envelope too.
  if (!data.hasValue) return JsonData.ofSource(text);
  return new JsonData({ sender: context.sender, origin, type, id: context.id, data: data.value }, text);
}
