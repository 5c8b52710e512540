// What a node of a cluster needs to survive faults (docs/scaling.md "Faults"): knowing it is cut off
// from the shared stores (self-fencing), learning that presence forgot it (it writes its sessions
// again), and re-routing what a dead node left undelivered. The Redis implementation is assembled in
// ../redis/cluster-stores.ts; a cluster without it (memory, in one process) has none of these faults.
import type { BusDelivery } from './delivery-bus.ts';
import type { KeptNotice } from './kept-notice.ts';

/** What became of one delivery re-routed: made (or kept), or why not (its publisher is told). */
export type RerouteResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

/**
 * Re-routes one delivery the dead node `node` did not make. Rejects when it could not decide (the
 * store failed): the delivery stays where it was, for the next try.
 */
export type Reroute = (node: string, delivery: BusDelivery) => Promise<RerouteResult>;

export interface ClusterFaults {
  /** Null while this node reaches the shared stores; else why not: it refuses deliveries meanwhile. */
  cutOff(): string | null;
  /** `listener` is called with this node's id when the shared presence was found to have forgotten it. */
  onForgotten(listener: (node: string) => void): void;
  /** At start, before subscribing: re-routes what an earlier run of this node left. Resolves to how many. */
  takeOverOwn(reroute: Reroute): Promise<number>;
  /** From now on, re-routes what nodes found dead left (one node at a time does each). */
  watch(reroute: Reroute): void;
  /** True while this node's bus readers read (after a cut, once they made their group again). Absent: always. */
  busReady?(): boolean;
  /** Deliveries kept for users are told to the nodes holding their sessions (kept-notice.ts). */
  readonly kept?: KeptNotice;
}
