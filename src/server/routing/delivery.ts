// Delivery does (docs/architecture.md): carrying out a route plan (route-plan.ts). Deliverers: the
// sessions connected here (the registry's one fan-out loop), the offline store for known users who
// are not connected (§4.3.1), and federation peers (§4.3.2). Enqueues only: never waits on a socket.
import type { ErrorCode } from '../../protocol/errors.ts';
import { encodeJsonFrame, encodeJsonPieces } from '../../protocol/frame.ts';
import { deliveryPieces } from '../../protocol/frame-pieces.ts';
import { jsonTextOfPieces, type JsonSource } from '../../protocol/json-text.ts';
import type { ForwardRequest, ForwardResult } from '../federation/federation.ts';
import type { ServerEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { RemoteDelivery } from '../presence/cluster-node.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { OfflineDelivery } from '../offline/offline-delivery.ts';
import type { KeepContext, KeepResult } from '../offline/offline-types.ts';
import type { RoutePlan } from './route-plan.ts';

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

/** Who a message is from and where it has been (for envelopes, offline notices and federation). */
export interface DispatchContext {
  /** The logged-in user who sent it (or, from a peer, the user its origin server vouches for). */
  readonly sender: string | null;
  readonly id: string | null;
  /** The server where it entered the federation; absent for a message from one of our clients. */
  readonly origin?: string;
  /** Servers crossed so far; absent (0) for a message from one of our clients. */
  readonly hops?: number;
  /** Whether later messages of the same connection wait behind this one (their reports keep its order). */
  readonly later?: () => boolean;
}

/** The part of federation delivery needs: carrying out sendServers. */
export interface Forwarder {
  /** This server's node id: the origin named in envelopes of messages from our own users (§4.4). */
  readonly nodeId?: string;
  forward(targets: readonly string[], request: ForwardRequest): Promise<ForwardResult>;
}

export interface DeliveryResult {
  /** Names that got the message on at least one connection (the recipients' own list when all did). */
  readonly delivered: readonly string[];
  /** Names with no open connection here (offline or unknown). */
  readonly undelivered: readonly string[];
}

export interface DeliveryOptions {
  /** The sessions connected to this server. */
  readonly registry: SessionRegistry;
  readonly logger: Logger;
  /** Carries out sendServers; without it sendServers is answered federation_unavailable. */
  readonly federation?: Forwarder;
  /** Keeps deliveries for known users who are offline; without it they are reported undelivered (§4.3.1). */
  readonly offline?: Pick<OfflineDelivery, 'keep'>;
  /** The core's events: `delivery` for every sendClients carried out. */
  readonly events?: ServerEvents;
  /** Users connected to other nodes of this server (presence/cluster-node.ts); absent: one daemon alone. */
  readonly remote?: RemoteDelivery;
}

const NOBODY: readonly string[] = Object.freeze([]);

/**
 * sendClients to the sessions connected here: `users` (already trimmed and deduplicated) each get
 * one encoding of `delivery` (the delivery's JSON text, builders.ts deliveryJson, or its pieces,
 * deliveryPieces) on every connection.
 */
export function deliverToUsers(registry: SessionRegistry, users: readonly string[], delivery: string | ReadonlyArray<JsonSource>): DeliveryResult {
  if (users.length === 0) return { delivered: users, undelivered: NOBODY };
  const frame = typeof delivery === 'string' ? encodeJsonFrame(delivery) : encodeJsonPieces(delivery);
  // Most deliveries reach every recipient: their list is handed back as it is, and lists are made
  // only when some were not connected (each array pushed to while empty grows a 17-slot store).
  let i = 0;
  while (i < users.length && registry.sendTo(users[i]!, frame)) i++;
  if (i === users.length) return { delivered: users, undelivered: NOBODY };
  const delivered = users.slice(0, i);
  const undelivered = [users[i]!];
  for (i++; i < users.length; i++) (registry.sendTo(users[i]!, frame) ? delivered : undelivered).push(users[i]!);
  return { delivered, undelivered };
}

export class Delivery {
  readonly #o: DeliveryOptions;

  constructor(options: DeliveryOptions) {
    this.#o = options;
  }

  /** Carries out a final plan (not a sendHandler hop). Never rejects; throws only on unserialisable data. */
  carryOut(plan: RoutePlan, context: DispatchContext): Outcome | Promise<Outcome> {
    switch (plan.kind) {
      case 'deliver':
        return this.#deliver(plan, context);
      case 'forward':
        return this.#forward(plan, context);
      case 'refuse':
        return bad(plan.code, plan.reason);
      case 'handler':
        return bad('internal_error', 'a sendHandler hop reached delivery');
    }
  }

  #deliver(plan: DeliverPlan, context: DispatchContext): Outcome | Promise<Outcome> {
    const { registry, logger } = this.#o;
    if (plan.users.length === 0) {
      this.#told(plan.type, 0, 0, 0);
      return GOOD;
    }
    // Self-fencing (docs/scaling.md): a node cut off from Redis cannot tell where else the
    // recipients are, nor keep a delivery for later: it refuses before writing to anyone, so the
    // sender knows it was not delivered (nothing acknowledged is lost).
    const fenced = this.#o.remote?.unavailable() ?? null;
    if (fenced !== null) {
      this.#told(plan.type, 0, 0, plan.users.length);
      return { good: false, code: 'cluster_unavailable', reason: `this node is cut off from the cluster: ${fenced}`, undelivered: plan.users };
    }
    // Serialised once (throws if it cannot be), for the sessions here and for other nodes; big
    // data that came as bytes is written to the sessions here as those bytes (encodeJsonPieces).
    const pieces = deliveryPieces(plan.type, plan.data);
    const result = deliverToUsers(registry, plan.users, pieces);
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ handler: plan.type, id: context.id, delivered: result.delivered.length, undelivered: result.undelivered }, 'delivered');
    }
    // One node of several: every recipient may hold sessions on other nodes too (one delivery per session).
    if (this.#o.remote !== undefined) return this.#viaOtherNodes(plan, context, result, jsonTextOfPieces(pieces));
    if (result.undelivered.length === 0) {
      this.#told(plan.type, result.delivered.length, 0, 0);
      return GOOD;
    }
    // Only recipients not connected here wait for the store; the fan-out above never waited.
    return this.#notHere(plan, context, result.delivered.length, result.undelivered);
  }

  /** The other nodes holding sessions of the recipients get it through the bus; then those connected nowhere. */
  async #viaOtherNodes(plan: DeliverPlan, context: DispatchContext, result: DeliveryResult, delivery: string): Promise<Outcome> {
    let reached: string[];
    try {
      reached = await this.#o.remote!.deliver(plan.users, delivery, keepContext(plan, context));
    } catch (err) {
      // Redis did not answer in time: not acknowledged (those connected here may have it already).
      const reason = err instanceof Error ? err.message : String(err);
      this.#told(plan.type, result.delivered.length, 0, result.undelivered.length);
      return { good: false, code: 'cluster_unavailable', reason, undelivered: result.undelivered };
    }
    const rest = reached.length === 0 ? result.undelivered : result.undelivered.filter((user) => !reached.includes(user));
    const queued = result.delivered.length + result.undelivered.length - rest.length;
    if (rest.length === 0) {
      this.#told(plan.type, queued, 0, 0);
      return GOOD;
    }
    return this.#notHere(plan, context, queued, rest);
  }

  /** Recipients connected nowhere: kept for their next login when offline delivery is on (§4.3.1). */
  #notHere(plan: DeliverPlan, context: DispatchContext, queued: number, users: readonly string[]): Outcome | Promise<Outcome> {
    const { offline } = this.#o;
    if (offline === undefined) {
      this.#told(plan.type, queued, 0, users.length);
      return { good: false, code: 'recipients_offline', reason: `not connected: ${users.join(', ')}`, undelivered: users };
    }
    return offline.keep(users, plan.type, plan.data, keepContext(plan, context)).then((kept) => {
      const notKept = kept.full.length + kept.unknown.length + kept.failed.length;
      this.#told(plan.type, queued + kept.delivered.length, kept.stored.length, notKept);
      return keptOutcome(kept);
    });
  }

  /** The `delivery` event (docs/architecture.md), built only when somebody listens. */
  #told(type: string, queued: number, kept: number, undelivered: number): void {
    const { events } = this.#o;
    if (events?.has('delivery') === true) events.emit('delivery', { type, queued, kept, undelivered });
  }

  /**
   * The message's own type travels to the peer, not the type of the handler that produced the
   * result (docs/federation.md §3.3): the peer runs its own handler for the type the client sent.
   */
  async #forward(plan: RoutePlan & { kind: 'forward' }, context: DispatchContext): Promise<Outcome> {
    const { federation } = this.#o;
    if (!federation) return bad('federation_unavailable', 'sendServers: federation is not configured on this server');
    const result = await federation.forward(plan.servers, {
      type: plan.type,
      id: context.id,
      data: plan.data.value,
      sender: context.sender,
      origin: context.origin ?? null,
      hops: context.hops ?? 0,
      ...(context.later ? { later: context.later } : {}),
    });
    const first = result.failed[0];
    if (first === undefined) return { good: true, servers: result.servers };
    const reason = result.failed.map((f) => `${f.target}: ${f.reason}`).join('; ');
    return { good: false, code: first.code, reason, servers: result.servers };
  }
}

const GOOD: Outcome = Object.freeze({ good: true });

type DeliverPlan = RoutePlan & { kind: 'deliver' };

/**
 * §4.3.1: `good` (with `stored`) when every recipient not connected was kept for later; else `bad`
 * naming who did not get it: over their queue's limit, no such user, or the store failed.
 */
function keptOutcome(kept: KeepResult): Outcome {
  const stored = kept.stored.length > 0 ? { stored: kept.stored } : {};
  const undelivered = [...kept.full, ...kept.unknown, ...kept.failed];
  if (undelivered.length === 0) return { good: true, ...stored };
  const reasons: string[] = [];
  if (kept.full.length > 0) {
    // The queue's own reason (messages, bytes, or the server's total) when it gave one.
    const why = kept.full.map((name) => kept.fullReasons?.[name]).filter((r) => r !== undefined);
    reasons.push(why.length > 0 ? `not kept: ${[...new Set(why)].join('; ')}` : `too many messages waiting for: ${kept.full.join(', ')}`);
  }
  if (kept.unknown.length > 0) reasons.push(`not connected: ${kept.unknown.join(', ')}`);
  if (kept.failed.length > 0) reasons.push(`could not be kept for later: ${kept.failed.join(', ')}`);
  const code: ErrorCode = kept.full.length > 0 ? 'recipient_queue_full' : kept.failed.length > 0 ? 'store_error' : 'recipients_offline';
  return { good: false, code, reason: reasons.join('; '), undelivered, ...stored };
}

export function bad(code: ErrorCode, reason: string): Outcome {
  return { good: false, code, reason };
}

/** What a kept entry records of the message (offline/keeper.ts): here, or on the node a delivery is published to. */
function keepContext(plan: DeliverPlan, context: DispatchContext): KeepContext {
  return { type: plan.messageType, id: context.id, sender: context.sender, ...(context.origin !== undefined ? { origin: context.origin } : {}) };
}
