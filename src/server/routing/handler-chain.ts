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
import { FairHandlerGate } from './in-flight.ts';
import { planRoute, refuse, type RoutePlan } from './route-plan.ts';

/**
 * Calls a handler with `data` (its text is what is sent). Resolves with the reply as JsonData (with
 * its text when read from a frame, so the result is passed on unchanged), or as a bare value.
 */
export type HandlerCaller = (handler: HandlerConfig, data: JsonData, options: HandlerCallOptions) => Promise<unknown>;

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
  readonly #hasHandler: (type: string) => boolean;
  #options = new WeakMap<HandlerConfig, HandlerCallOptions>();

  constructor(options: HandlerChainOptions) {
    this.#o = options;
    this.#hasHandler = (type) => this.#o.handlers.has(type);
  }

  /**
   * A reload changed the handlers or the limits: the next message and the next hop use them. Calls
   * in progress finish with the entry they started with.
   */
  reconfigure(handlers: ReadonlyMap<string, HandlerConfig>, limits: LimitsConfig): void {
    this.#o = { ...this.#o, handlers, limits };
    this.#options = new WeakMap();
  }

  /** The options of every call to `handler`, made once per handler entry and limits (a reload makes new ones). */
  #optionsFor(handler: HandlerConfig): HandlerCallOptions {
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
  }

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
  async route(type: string, data: JsonData, context: DispatchContext): Promise<RoutePlan> {
    const { handlers, limits, logger } = this.#o;
    let currentType = type;
    let currentData = data;
    for (let hops = 0; ; hops++) {
      const handler = handlers.get(currentType);
      // A later hop's handler was checked by the plan; only the first type can be unknown here.
      if (!handler) return refuse('unknown_type', `no handler for type ${JSON.stringify(currentType)}`);
      const answer = await this.#call(handler, currentData, context);
      if (!(answer instanceof Answer)) return answer;
      const { plan, quirk } = planRoute(answer.value, {
        handlerType: currentType,
        messageType: type,
        hops,
        maxHops: limits.maxHandlerHops,
        hasHandler: this.#hasHandler,
      });
      if (quirk !== null) logger.warn({ handler: currentType, quirk }, 'handler reply read leniently');
      if (plan.kind === 'refuse') logger.warn({ handler: currentType, code: plan.code, reason: plan.reason, id: context.id }, 'handler reply refused');
      if (plan.kind !== 'handler') return plan;
      currentType = plan.handler;
      currentData = plan.data;
    }
  }

  /** One handler call within its cap (§4.1.1: over maxInFlight, `overloaded` at once; never queued). */
  async #call(handler: HandlerConfig, data: JsonData, context: DispatchContext): Promise<Answer | RoutePlan> {
    const { logger } = this.#o;
    const type = handler.type;
    const user = userKey(context);
    const full = this.#gate.tryEnter(type, handler.maxInFlight, user, handler.maxInFlightPerUser);
    if (full !== null) {
      logger.warn({ handler: type, maxInFlight: handler.maxInFlight, full, sender: context.sender, id: context.id }, 'handler overloaded');
      if (full === 'user') {
        const share = handler.maxInFlightPerUser;
        return refuse('overloaded', `handler ${JSON.stringify(type)}: you have ${share} calls to it in progress, the most one user may (maxInFlightPerUser), try again later`);
      }
      return refuse('overloaded', `handler ${JSON.stringify(type)} is overloaded: ${handler.maxInFlight} calls already in progress, try again later`);
    }
    const events = this.#o.events?.has('handler.called') === true ? this.#o.events : null;
    const started = events === null ? 0 : performance.now();
    try {
      const input = handler.input === 'envelope' ? envelopeOf(context, type, data, this.#o.nodeId ?? null) : data;
      const options = this.#optionsFor(handler);
      const answer = new Answer(await this.#o.callHandler(handler, input, options));
      events?.emit('handler.called', { type, code: null, ms: performance.now() - started });
      return answer;
    } catch (err) {
      const e = err instanceof BesterError ? err : new BesterError('internal_error', describeThrown(err).message, { cause: err });
      logger.warn({ handler: type, code: e.code, err: e.message, sender: context.sender, id: context.id }, 'handler call failed');
      events?.emit('handler.called', { type, code: e.code, ms: performance.now() - started });
      return refuse(e.code, `handler ${JSON.stringify(type)}: ${e.message}`);
    } finally {
      this.#gate.leave(type, user);
    }
  }
}

/** Whose share of a handler a call takes: the sender, per origin server for a peer's messages. */
function userKey(context: DispatchContext): string {
  const sender = context.sender ?? '';
  return context.origin === undefined ? sender : `${context.origin}\u0000${sender}`;
}

/** A handler's answer, boxed so that it cannot be mistaken for a plan whatever it holds. */
class Answer {
  readonly value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
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
  const source = data.source;
  // Data that came as bytes (a big one of a peer's or a handler's) stays bytes, copied once behind the head.
  if (typeof source !== 'string') return JsonData.ofSource(Buffer.concat([Buffer.from(head), source, ENVELOPE_END]));
  const text = `${head}${source}}`;
  // Data known by its text only (a peer's, a big handler result) stays unparsed in the envelope too.
  if (!data.hasValue) return JsonData.ofSource(text);
  return new JsonData({ sender: context.sender, origin, type, id: context.id, data: data.value }, text);
}
