// This daemon as one node of a server made of several (docs/architecture.md "Presence and the
// delivery bus"): its users' sessions are announced in the shared presence (from the core's login
// and close events), a delivery to users connected to other nodes is published to those nodes on
// the delivery bus, and what other nodes publish here is written to the local sessions.
import { setTimeout as sleep } from 'node:timers/promises';
import { BesterError } from '../../protocol/errors.ts';
import { encodeJsonFrame } from '../../protocol/frame.ts';
import type { ServerEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { within } from '../within.ts';
import type { CatchUp } from '../offline/catch-up.ts';
import type { OfflineDelivery } from '../offline/offline-delivery.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { ClusterFaults } from './cluster-faults.ts';
import type { BusKept, DeliveryBus } from './delivery-bus.ts';
import type { Presence } from './presence.ts';
import { Rerouter } from './rerouter.ts';

export interface ClusterOptions {
  /** This node's name in the presence and on the bus; unique among the nodes. */
  readonly nodeId: string;
  readonly presence: Presence;
  readonly bus: DeliveryBus;
  /** Self-fencing, presence written again, dead nodes' deliveries re-routed (Redis: cluster-faults.ts). */
  readonly faults?: ClusterFaults;
  /** How long a delivery may wait for the presence to answer before it is refused (default 10 s). */
  readonly timeoutMs?: number;
}

/** What delivery needs of the cluster: reaching users who are not connected here. */
export interface RemoteDelivery {
  /**
   * Publishes the delivery to the nodes holding sessions of `users`; resolves with the users it
   * reached. Rejects with cluster_unavailable when the presence did not answer in time.
   */
  deliver(users: readonly string[], frame: string, kept?: BusKept): Promise<string[]>;
  /** Null, or why this node refuses deliveries now (self-fencing: docs/scaling.md). */
  unavailable(): string | null;
}

export interface ClusterCore {
  readonly events: ServerEvents;
  readonly registry: SessionRegistry;
  readonly logger: Logger;
  /** Where a delivery re-routed from a dead node goes for a user connected nowhere; its keeps are told to the other nodes. */
  readonly offline?: Pick<OfflineDelivery, 'keepText' | 'onKept'>;
  /** Flushes what was kept to users connected here (offline/catch-up.ts): when this node is back from a cut, at a kept notice. */
  readonly catchUp?: Pick<CatchUp, 'user' | 'users' | 'close'>;
}

/** How long leave() waits for Redis (unsubscribe, presence) before the stores' connections are closed anyway. */
const LEAVE_WAIT_MS = 2000;
/** How often a node back from a cut checks that its bus reader and its kept-notice subscription are up again. */
const BACK_POLL_MS = 100;

export class ClusterNode implements RemoteDelivery {
  readonly #o: ClusterOptions;
  readonly #logger: Logger;
  #unsubscribe: (() => Promise<void>) | null = null;
  readonly #stopListening: Array<() => void> = [];
  /** This node's logged-in sessions (id -> user): written again when presence forgot them. */
  readonly #sessions = new Map<string, string>();
  #fenced: string | null = null;
  #catchUp: ClusterCore['catchUp'] | null = null;

  private constructor(options: ClusterOptions, logger: Logger) {
    this.#o = options;
    this.#logger = logger;
  }

  /**
   * Joins: forgets what an earlier run of this node left in the presence, re-routes what it left on
   * its delivery stream (its sessions are gone), subscribes to its deliveries.
   */
  static async join(options: ClusterOptions, core: ClusterCore): Promise<ClusterNode> {
    const node = new ClusterNode(options, core.logger);
    const { nodeId, presence, bus, faults } = options;
    const dropped = await presence.dropNode(nodeId);
    if (dropped > 0) core.logger.warn({ node: nodeId, dropped }, 'sessions an earlier run of this node left in the presence were dropped');
    const rerouter = new Rerouter({ nodeId, presence, bus, registry: core.registry, logger: core.logger, ...(core.offline ? { offline: core.offline } : {}) });
    const reroute = (dead: string, delivery: Parameters<Rerouter['reroute']>[1]) => rerouter.reroute(dead, delivery);
    if (faults) {
      const n = await faults.takeOverOwn(reroute);
      if (n > 0) core.logger.warn({ node: nodeId, rerouted: n }, 'deliveries an earlier run of this node had not made were re-routed');
    }
    node.#unsubscribe = await bus.subscribe(nodeId, (delivery) => {
      const frame = encodeJsonFrame(delivery.frame);
      for (const user of delivery.users) core.registry.sendTo(user, frame);
    });
    const announce = (what: string, done: Promise<void>): void => {
      done.catch((err: unknown) => core.logger.error({ err, node: nodeId }, `presence: could not record ${what}`));
    };
    node.#stopListening.push(
      core.events.on('login', (e) => {
        if (e.outcome !== 'ok' || e.user === null) return;
        node.#sessions.set(String(e.id), e.user);
        announce('a login', presence.add(e.user, nodeId, String(e.id)));
      }),
      core.events.on('connection.closed', (e) => {
        if (!e.loggedIn || e.user === null) return;
        node.#sessions.delete(String(e.id));
        announce('a close', presence.remove(e.user, nodeId, String(e.id)));
      }),
    );
    if (faults) {
      // Redis lost its data, or the others took this node for dead: its users stay reachable
      // without logging in again (docs/scaling.md "Faults").
      faults.onForgotten((forgotten) => {
        if (forgotten !== nodeId || node.#unsubscribe === null) return;
        // Live deliveries to its users are held from now on (they may come as soon as presence names
        // this node again), behind what the others kept meanwhile (docs/scaling.md "Back from a cut").
        // Both start in this turn, before any reply from Redis: nothing live slips in between.
        const back = node.#back(() => [...node.#sessions].map(([id, user]) => {
          const added = presence.add(user, nodeId, id);
          announce('a session again', added);
          return added;
        }));
        (node.#catchUp?.users(core.registry.users(), back) ?? back).catch(() => undefined); // neither rejects
      });
      faults.watch(reroute);
      const { kept } = faults;
      if (kept && core.catchUp) {
        const { catchUp } = core;
        node.#catchUp = catchUp;
        core.offline?.onKept((users) => kept.send(users));
        kept.onKept((users) => {
          for (const user of users) if (core.registry.isOnline(user)) void catchUp.user(user);
        });
      }
    }
    return node;
  }

  /**
   * Back after being taken for dead: writes its sessions into presence again (`again`), then waits
   * (bounded) until its bus reader reads and its kept notices are heard again, so that a delivery
   * kept from then on is heard of. Never rejects.
   */
  async #back(again: () => Array<Promise<void>>): Promise<void> {
    const { faults, nodeId } = this.#o;
    if (this.#catchUp) this.#logger.info({ node: nodeId }, 'cluster: back after being taken for dead; live deliveries to the users connected here wait behind what was kept for them meanwhile');
    await Promise.allSettled(again());
    if (!this.#catchUp) return; // nothing to catch up (offline delivery is off)
    const deadline = Date.now() + (this.#o.timeoutMs ?? 10_000);
    const up = (): boolean => (faults?.busReady?.() ?? true) && (faults?.kept?.ready() ?? true);
    while (!up() && Date.now() < deadline && this.#unsubscribe !== null) await new Promise((r) => setTimeout(r, BACK_POLL_MS));
    if (!up()) this.#logger.warn({ node: nodeId, timeoutMs: this.#o.timeoutMs ?? 10_000 }, 'cluster: the bus reader or the kept notices are not back yet; delivering what was kept anyway');
  }

  unavailable(): string | null {
    const why = this.#o.faults?.cutOff() ?? null;
    if (why !== this.#fenced && (why === null || this.#fenced === null)) {
      if (why !== null) this.#logger.error({ node: this.#o.nodeId, reason: why }, 'cluster: cut off from Redis; deliveries are refused (cluster_unavailable) until it is back');
      else this.#logger.info({ node: this.#o.nodeId }, 'cluster: Redis reached again; deliveries accepted');
    }
    this.#fenced = why;
    return why;
  }

  /** For GET /readyz: rejects with the reason while this node fences itself. */
  check(): Promise<void> {
    const why = this.unavailable();
    return why === null ? Promise.resolve() : Promise.reject(new BesterError('cluster_unavailable', why));
  }

  async deliver(users: readonly string[], frame: string, kept?: BusKept): Promise<string[]> {
    const { presence, bus, nodeId } = this.#o;
    const byNode = new Map<string, string[]>();
    const lookups = Promise.all(
      users.map(async (user) => {
        for (const node of await presence.nodesOf(user)) {
          if (node === nodeId) continue; // not connected here any more: nothing to publish to ourselves
          const list = byNode.get(node) ?? [];
          list.push(user);
          byNode.set(node, list);
        }
      }),
    );
    await presenceWithin(lookups, this.#o.timeoutMs ?? 10_000);
    const reached = new Set<string>();
    await Promise.all(
      [...byNode].map(async ([node, list]) => {
        try {
          await bus.publish(node, kept === undefined ? { users: list, frame } : { users: list, frame, kept });
          for (const user of list) reached.add(user);
        } catch (err) {
          this.#logger.warn({ err, node, users: list }, 'delivery bus: could not reach a node');
        }
      }),
    );
    return users.filter((user) => reached.has(user));
  }

  /** Leaves: stops receiving, forgets this node's sessions in the presence. Idempotent. */
  async leave(): Promise<void> {
    for (const stop of this.#stopListening.splice(0)) stop();
    this.#catchUp?.close();
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = null;
    if (unsubscribe === null) return;
    // Cut off from Redis, these wait for it: bounded, the stores' connections are then closed (store-base.ts closeClient).
    const left = unsubscribe().then(() => this.#o.presence.dropNode(this.#o.nodeId)).catch(() => 0);
    await Promise.race([left, sleep(LEAVE_WAIT_MS, undefined, { ref: false })]);
  }
}

/** `work`, or cluster_unavailable after `ms` (the presence waits for a Redis that is gone). */
async function presenceWithin(work: Promise<unknown>, ms: number): Promise<void> {
  try {
    await within(work, ms, () => new BesterError('cluster_unavailable', `the cluster's presence did not answer within ${ms} ms`));
  } catch (err) {
    if (err instanceof BesterError && err.code === 'cluster_unavailable') throw err;
    throw new BesterError('cluster_unavailable', `the cluster's presence failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
