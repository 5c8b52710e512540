// Dispatch of a message to its handler and the carrying-out of the handler's reply
// (docs/protocol.md §4). Deciding is in protocol/handler-reply.ts; this walks the chain.
import { BesterError, type ErrorCode } from '../../protocol/errors.ts';
import { parseHandlerReply } from '../../protocol/handler-reply.ts';
import type { HandlerCallOptions } from '../handlers/handler-call.ts';
import { JsonData } from '../../protocol/json-text.ts';
import type { HandlerConfig, LimitsConfig } from '../config/types.ts';
import { describeThrown, type Logger } from '../log.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { ForwardRequest, ForwardResult } from '../federation/federation.ts';
import { deliverToUsers } from './delivery.ts';
import type { KeepResult, OfflineDelivery } from '../offline/offline-delivery.ts';
import { ActivityCounter, HandlerGate } from './in-flight.ts';

/**
 * Calls a handler with `data` (its text is what is sent). Resolves with the reply as JsonData (with
 * its text when read from a frame, so the result is passed on unchanged), or as a bare value.
 */
export type HandlerCaller = (handler: HandlerConfig, data: JsonData, options: HandlerCallOptions) => Promise<unknown>;

/** What the sender is told about one message (§3.3). */
export type Outcome =
  | {
      readonly good: true;
      readonly servers?: Readonly<Record<string, string>>;
      /** sendClients: recipients offline whose delivery was kept for their next login (§4.3.1). */
      readonly stored?: readonly string[];
    }
  | {
      readonly good: false;
      readonly code: ErrorCode;
      readonly reason: string;
      readonly undelivered?: readonly string[];
      readonly servers?: Readonly<Record<string, string>>;
      readonly stored?: readonly string[];
    };

/** Who a message is from and where it has been (for envelopes and federation). */
export interface DispatchContext {
  /** The logged-in user who sent it (or, from a peer, the user its origin server vouches for). */
  readonly sender: string | null;
  readonly id: string | null;
  /** The server where it entered the federation; absent for a message from one of our clients. */
  readonly origin?: string;
  /** Servers crossed so far; absent (0) for a message from one of our clients. */
  readonly hops?: number;
}

/** The part of federation the router needs: carrying out sendServers. */
export interface Forwarder {
  forward(targets: readonly string[], request: ForwardRequest): Promise<ForwardResult>;
}

export interface RouterOptions {
  readonly handlers: ReadonlyMap<string, HandlerConfig>;
  readonly limits: LimitsConfig;
  readonly registry: SessionRegistry;
  readonly callHandler: HandlerCaller;
  readonly logger: Logger;
  /** Carries out sendServers; without it sendServers is answered federation_unavailable. */
  readonly federation?: Forwarder;
  /**
   * Keeps sendClients deliveries for recipients who have an account but are offline (offline.ts, built
   * on the offline store and the account store); without it they are reported undelivered (§4.3.1).
   */
  readonly offline?: Pick<OfflineDelivery, 'keep'>;
  /** Aborted when a shutdown's grace period runs out: calls still in flight end with 'shutting_down'. */
  readonly signal?: AbortSignal;
}

export class Router {
  readonly #o: RouterOptions;
  /** Handler calls in progress, per handler (handlers.typeMap.T.maxInFlight). */
  readonly #gate = new HandlerGate();
  /** Dispatches in progress: a stopping server waits for them (shutdown.graceMs). */
  readonly #active = new ActivityCounter();
  #draining = false;

  constructor(options: RouterOptions) {
    this.#o = options;
  }

  /** Calls to the handler for `type` in progress now. */
  inFlight(type: string): number {
    return this.#gate.inFlight(type);
  }

  /** Messages being dispatched now (all handlers, chains counted once). */
  get activeDispatches(): number {
    return this.#active.active;
  }

  /**
   * Shutdown, first step (docs/protocol.md §3.6): from now on every new message is answered `shutting_down` without
   * calling a handler; dispatches already in progress go on. Resolves true once they are all
   * done, false if some are still running after `graceMs` (abort `signal` to cancel them).
   */
  drain(graceMs: number): Promise<boolean> {
    this.#draining = true;
    return this.#active.idle(graceMs);
  }

  /** Resolves true once no dispatch is in progress, false after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean> {
    return this.#active.idle(timeoutMs);
  }

  #forward(servers: readonly string[], type: string, data: JsonData, context: DispatchContext): Promise<Outcome> {
    return forward(this.#o.federation, servers, type, data, context);
  }

  /**
   * Runs a message through its handler chain and carries out the final command. Never rejects.
   * `sender` is the logged-in user (null for a legacy server-scope message); handlers whose
   * config says `"input": "envelope"` receive it with the data (§4.4).
   * `turn`, when given, resolves once the messages sent before this one on its connection were
   * applied: the handler calls run at once, but the final command (deliveries, offline storing,
   * federation forward) waits for it, so one sender's deliveries keep their order (§3.1). It
   * resolves false when the connection closed before then: nothing is carried out.
   * `data`'s text, when it came with it, is passed to the handler as it is (docs/performance.md).
   */
  async dispatch(type: string, data: JsonData, context: DispatchContext, turn?: Promise<boolean>): Promise<Outcome> {
    if (this.#draining) return bad('shutting_down', 'the server is shutting down and takes no new messages');
    this.#active.enter();
    try {
      return await this.#dispatch(type, data, context, turn);
    } finally {
      this.#active.leave();
    }
  }

  async #dispatch(type: string, data: JsonData, context: DispatchContext, turn: Promise<boolean> | undefined): Promise<Outcome> {
    const { handlers, limits, logger } = this.#o;
    let currentType = type;
    let currentData = data;
    for (let hops = 0; ; hops++) {
      const handler = handlers.get(currentType);
      if (!handler) {
        return hops === 0
          ? bad('unknown_type', `no handler for type ${JSON.stringify(currentType)}`)
          : bad('unknown_type', `sendHandler named ${JSON.stringify(currentType)}, which has no handler`);
      }
      // docs/protocol.md §4.1.1: over the handler's maxInFlight, `overloaded` at once; never queued.
      if (!this.#gate.tryEnter(handler.type, handler.maxInFlight)) {
        logger.warn({ handler: currentType, maxInFlight: handler.maxInFlight, id: context.id }, 'handler overloaded');
        return bad(
          'overloaded',
          `handler ${JSON.stringify(currentType)} is overloaded: ${handler.maxInFlight} calls already in progress, try again later`,
        );
      }
      let raw: unknown;
      try {
        const input = handler.input === 'envelope' ? envelopeOf(context, currentType, currentData) : currentData;
        const options: HandlerCallOptions = { timeoutMs: handler.timeoutMs, maxReplyBytes: limits.maxHandlerFrameBytes, maxJsonDepth: limits.maxJsonDepth };
        if (this.#o.signal) options.signal = this.#o.signal;
        raw = await this.#o.callHandler(handler, input, options);
      } catch (err) {
        const e = err instanceof BesterError ? err : new BesterError('internal_error', describeThrown(err).message, { cause: err });
        logger.warn({ handler: currentType, code: e.code, err: e.message, sender: context.sender, id: context.id }, 'handler call failed');
        return bad(e.code, `handler ${JSON.stringify(currentType)}: ${e.message}`);
      } finally {
        this.#gate.leave(handler.type);
      }
      const answer = raw instanceof JsonData ? raw : new JsonData(raw);
      const reply = parseHandlerReply(answer.value);
      if (!reply.ok) {
        logger.warn({ handler: currentType, code: reply.code, reason: reply.reason, id: context.id }, 'handler reply refused');
        return bad(reply.code, `handler ${JSON.stringify(currentType)}: ${reply.reason}`);
      }
      if (reply.quirk) logger.warn({ handler: currentType, quirk: reply.quirk }, 'handler reply read leniently');
      const command = reply.command;
      // The result with its own text, passed on to recipients or the next handler as it is.
      const result = answer.member(reply.dataPath, reply.data);
      // The apply part: after the earlier messages of the same connection (§3.1).
      if (turn !== undefined && command.kind !== 'sendHandler' && !(await turn)) {
        return bad('shutting_down', 'the connection closed before this message was carried out');
      }
      switch (command.kind) {
        case 'sendClients': {
          const delivered = deliverToUsers(this.#o.registry, command.users, currentType, result);
          if (logger.isLevelEnabled('debug')) {
            logger.debug({ handler: currentType, id: context.id, delivered: delivered.delivered.length, undelivered: delivered.undelivered }, 'delivered');
          }
          if (delivered.undelivered.length === 0) return { good: true };
          if (this.#o.offline) {
            // The fan-out above never waited; only recipients not connected wait for the account lookup.
            const keep = { type, id: context.id, sender: context.sender, ...(context.origin !== undefined ? { origin: context.origin } : {}) };
            return keptOutcome(await this.#o.offline.keep(delivered.undelivered, currentType, result, keep));
          }
          return {
            good: false,
            code: 'recipients_offline',
            reason: `not connected: ${delivered.undelivered.join(', ')}`,
            undelivered: delivered.undelivered,
          };
        }
        case 'sendServers':
          return this.#forward(command.servers, type, result, context);
        case 'sendHandler':
          if (hops + 1 > limits.maxHandlerHops) {
            return bad('handler_chain_too_long', `handler chain longer than ${limits.maxHandlerHops} sendHandler hops`);
          }
          currentType = command.handler;
          currentData = result;
          break;
      }
    }
  }
}

/** §4.4: the envelope `{sender, type, id, data}`, its text with the data's own text spliced in. */
function envelopeOf(context: DispatchContext, type: string, data: JsonData): JsonData {
  const value = { sender: context.sender, type, id: context.id, data: data.value };
  const text = `{"sender":${JSON.stringify(context.sender)},"type":${JSON.stringify(type)},"id":${JSON.stringify(context.id)},"data":${data.text}}`;
  return new JsonData(value, text);
}

/**
 * The message's own type travels to the peer, not the type of the handler that produced the
 * result (docs/federation.md §3.3): the peer runs its own handler for the type the client sent.
 */
async function forward(
  federation: Forwarder | undefined,
  servers: readonly string[],
  type: string,
  data: JsonData,
  context: DispatchContext,
): Promise<Outcome> {
  if (!federation) return bad('federation_unavailable', 'sendServers: federation is not configured on this server');
  const result = await federation.forward(servers, {
    type,
    id: context.id,
    data: data.value,
    sender: context.sender,
    origin: context.origin ?? null,
    hops: context.hops ?? 0,
  });
  const first = result.failed[0];
  if (first === undefined) return { good: true, servers: result.servers };
  const reason = result.failed.map((f) => `${f.target}: ${f.reason}`).join('; ');
  return { good: false, code: first.code, reason, servers: result.servers };
}

/**
 * §4.3.1: `good` (with `stored`) when every recipient not connected was kept for later; else `bad`
 * naming who did not get it: over their queue's limit, no such user, or the store failed.
 */
function keptOutcome(kept: KeepResult): Outcome {
  const stored = kept.stored.length > 0 ? { stored: kept.stored } : {};
  const undelivered = [...kept.full, ...kept.unknown, ...kept.failed];
  if (undelivered.length === 0) return { good: true, ...stored };
  const reasons: string[] = [];
  if (kept.full.length > 0) reasons.push(`too many messages waiting for: ${kept.full.join(', ')}`);
  if (kept.unknown.length > 0) reasons.push(`not connected: ${kept.unknown.join(', ')}`);
  if (kept.failed.length > 0) reasons.push(`could not be kept for later: ${kept.failed.join(', ')}`);
  const code: ErrorCode = kept.full.length > 0 ? 'recipient_queue_full' : kept.failed.length > 0 ? 'store_error' : 'recipients_offline';
  return { good: false, code, reason: reasons.join('; '), undelivered, ...stored };
}

function bad(code: ErrorCode, reason: string): Outcome {
  return { good: false, code, reason };
}
