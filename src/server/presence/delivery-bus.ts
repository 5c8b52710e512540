// The delivery bus contract: how a delivery reaches a user's sessions on another node of the same
// server (the cluster, docs/architecture.md "Presence and the delivery bus"). The router asks presence which nodes hold the user, then
// publishes to each of them; each node subscribes under its own name and writes what it receives to
// its local sessions. Memory now (memory-delivery-bus.ts, several nodes in one process), Redis
// (../redis/delivery-bus.ts); every implementation passes test/contract/delivery-bus.contract.ts.
import type { KeepContext } from '../offline/offline-types.ts';

/** One delivery for some of a node's users. */
export interface BusDelivery {
  /** The recipients (the receiving node writes to those it holds sessions of). */
  readonly users: readonly string[];
  /** The delivery frame's JSON text (docs/protocol.md §3.4), exactly as the sessions will write it. */
  readonly frame: string;
  /**
   * The message it came from, for a node that keeps it for later instead (a dead node's delivery
   * re-routed, rerouter.ts): its kept entry then names the sender and the message id, as a delivery
   * kept by its own node does (quotas, the expiry notice). Absent from older publishers.
   */
  readonly kept?: BusKept;
}

/** What a kept entry records of the message a delivery came from: the keeper's own context (offline/keeper.ts). */
export type BusKept = KeepContext;

/** `kept` read back from its JSON (a bus entry's field); undefined when absent or not this shape. */
export function readBusKept(text: string | undefined): BusKept | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const str = (x: unknown): string | null => (typeof x === 'string' ? x : null);
    if (typeof v !== 'object' || v === null || typeof v['type'] !== 'string') return undefined;
    const origin = str(v['origin']);
    return { type: v['type'], id: str(v['id']), sender: str(v['sender']), ...(origin === null ? {} : { origin }) };
  } catch {
    return undefined;
  }
}

/**
 * Takes one delivery on the receiving node. The bus waits for it to resolve before handing the same
 * subscriber the next one; a rejection (or a throw) fails the publish.
 */
export type DeliveryListener = (delivery: BusDelivery) => Promise<void> | void;

export interface DeliveryBus {
  /**
   * Receives, from now on, what is published to `node`. Several subscribers of one node each get
   * every delivery. Resolves, once subscribed, to the function that ends the subscription
   * (idempotent; deliveries not yet handed to that subscriber are then not delivered to it).
   */
  subscribe(node: string, onDelivery: DeliveryListener): Promise<() => Promise<void>>;
  /**
   * Sends a delivery to `node`'s subscribers. Resolves once each of them has taken it (its listener
   * resolved): that is the acknowledgement. Rejects with BesterError('store_error') when no
   * subscriber took it (none subscribed, one unsubscribed first, or a listener failed); the
   * publisher may publish again, so a subscriber can see a delivery twice (at least once).
   * Order: each subscriber gets the deliveries of one publisher to one node in publish order.
   */
  publish(node: string, delivery: BusDelivery): Promise<void>;
  /** Idempotent. Ends every subscription; any other call after close rejects with BesterError('store_error'). */
  close(): Promise<void>;
}
