// The message path's routing (docs/architecture.md): a message's handler chain (handler-chain.ts)
// gives a plan (route-plan.ts), delivery (delivery.ts) carries it out. The router never waits for
// a connection's order: the session's pipeline holds each plan until the messages sent before it
// were carried out, then asks for it to be carried out. It counts the messages in progress, so a
// stopping server can wait for them (shutdown.graceMs).
import type { JsonData } from '../../protocol/json-text.ts';
import type { HandlerConfig, LimitsConfig } from '../config/types.ts';
import type { ServerEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { RemoteDelivery } from '../presence/cluster-node.ts';
import type { SessionRegistry } from '../session/registry.ts';
import { bad, Delivery, type DispatchContext, type Forwarder, type Outcome } from './delivery.ts';
import { HandlerChain, type HandlerCaller, type PlanReceiver } from './handler-chain.ts';
import { ActivityCounter } from './in-flight.ts';
import type { OfflineDelivery } from '../offline/offline-delivery.ts';
import type { RoutePlan } from './route-plan.ts';

export type { DispatchContext, Forwarder, Outcome } from './delivery.ts';
export { promisedCaller, type HandlerCaller, type PlanReceiver, type PromisedHandlerCaller } from './handler-chain.ts';

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
  /** The core's events: `delivery` for every sendClients carried out, `handler.called` after every handler call. */
  readonly events?: ServerEvents;
  /** Users connected to other nodes of this server; absent: one daemon alone. */
  readonly remote?: RemoteDelivery;
}

/** One message in progress: `begin()` gave it; `end()` must be called once. */
export interface Work {
  end(): void;
}

export class Router {
  readonly #chain: HandlerChain;
  readonly #delivery: Delivery;
  /** Messages in progress: a stopping server waits for them (shutdown.graceMs). */
  readonly #active = new ActivityCounter();
  #draining = false;
  readonly #work: Work = { end: () => this.#active.leave() };

  constructor(options: RouterOptions) {
    this.#chain = new HandlerChain({
      handlers: options.handlers,
      limits: options.limits,
      callHandler: options.callHandler,
      logger: options.logger,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.events ? { events: options.events } : {}),
      ...(options.federation?.nodeId !== undefined ? { nodeId: options.federation.nodeId } : {}),
    });
    this.#delivery = new Delivery({
      registry: options.registry,
      logger: options.logger,
      ...(options.federation ? { federation: options.federation } : {}),
      ...(options.offline ? { offline: options.offline } : {}),
      ...(options.events ? { events: options.events } : {}),
      ...(options.remote ? { remote: options.remote } : {}),
    });
  }

  /** A reload changed the handlers or the limits (handler-chain.ts). */
  reconfigure(handlers: ReadonlyMap<string, HandlerConfig>, limits: LimitsConfig): void {
    this.#chain.reconfigure(handlers, limits);
  }

  /** Calls to the handler for `type` in progress now. */
  inFlight(type: string): number {
    return this.#chain.inFlight(type);
  }

  /** Messages in progress now (all handlers, chains counted once). */
  get activeDispatches(): number {
    return this.#active.active;
  }

  /**
   * A message starts: null when the server is draining (the message is then answered
   * `shutting_down` without calling a handler, §3.6); else call `end()` once it was answered.
   */
  begin(): Work | null {
    if (this.#draining) return null;
    this.#active.enter();
    return this.#work;
  }

  /** The message's handler chain, to its final plan (handler-chain.ts). */
  route(type: string, data: JsonData, context: DispatchContext): Promise<RoutePlan> {
    return this.#chain.route(type, data, context);
  }

  /** route(), the plan told to `receiver`: the message path's form, no promise per message (handler-chain.ts). */
  routeTo(type: string, data: JsonData, context: DispatchContext, receiver: PlanReceiver): void {
    this.#chain.routeTo(type, data, context, receiver);
  }

  /** Carries a final plan out (delivery.ts). */
  carryOut(plan: RoutePlan, context: DispatchContext): Outcome | Promise<Outcome> {
    return this.#delivery.carryOut(plan, context);
  }

  /**
   * A message that keeps no order with others (a legacy server-scope message, a peer's message):
   * begin, route, carry out, end. Rejects only where route() does.
   */
  async dispatch(type: string, data: JsonData, context: DispatchContext): Promise<Outcome> {
    const work = this.begin();
    if (work === null) return SHUTTING_DOWN;
    try {
      return await this.carryOut(await this.route(type, data, context), context);
    } finally {
      work.end();
    }
  }

  /**
   * Shutdown, first step (docs/protocol.md §3.6): from now on every new message is answered
   * `shutting_down` without calling a handler; messages already in progress go on. Resolves true
   * once they are all done, false if some are still running after `graceMs` (abort `signal` to cancel them).
   */
  drain(graceMs: number): Promise<boolean> {
    this.#draining = true;
    return this.#active.idle(graceMs);
  }

  /** Resolves true once no message is in progress, false after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean> {
    return this.#active.idle(timeoutMs);
  }
}

export const SHUTTING_DOWN: Outcome = Object.freeze(bad('shutting_down', 'the server is shutting down and takes no new messages'));
