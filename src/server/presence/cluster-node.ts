// This daemon as one node of a server made of several (docs/architecture.md "Presence and the
// delivery bus"): its users' sessions are announced in the shared presence (from the core's login
// and close events), a delivery to users connected to other nodes is published to those nodes on
// the delivery bus, and what other nodes publish here is written to the local sessions.
import { encodeJsonFrame } from '../../protocol/frame.ts';
import type { ServerEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { DeliveryBus } from './delivery-bus.ts';
import type { Presence } from './presence.ts';

export interface ClusterOptions {
  /** This node's name in the presence and on the bus; unique among the nodes. */
  readonly nodeId: string;
  readonly presence: Presence;
  readonly bus: DeliveryBus;
}

/** What delivery needs of the cluster: reaching users who are not connected here. */
export interface RemoteDelivery {
  /** Publishes the delivery to the nodes holding sessions of `users`; resolves with the users it reached. */
  deliver(users: readonly string[], frame: string): Promise<string[]>;
}

export class ClusterNode implements RemoteDelivery {
  readonly #o: ClusterOptions;
  readonly #logger: Logger;
  #unsubscribe: (() => Promise<void>) | null = null;
  readonly #stopListening: Array<() => void> = [];

  private constructor(options: ClusterOptions, logger: Logger) {
    this.#o = options;
    this.#logger = logger;
  }

  /** Joins: forgets what an earlier run of this node left in the presence, subscribes to its deliveries. */
  static async join(options: ClusterOptions, core: { events: ServerEvents; registry: SessionRegistry; logger: Logger }): Promise<ClusterNode> {
    const node = new ClusterNode(options, core.logger);
    const { nodeId, presence, bus } = options;
    const dropped = await presence.dropNode(nodeId);
    if (dropped > 0) core.logger.warn({ node: nodeId, dropped }, 'sessions an earlier run of this node left in the presence were dropped');
    node.#unsubscribe = await bus.subscribe(nodeId, (delivery) => {
      const frame = encodeJsonFrame(delivery.frame);
      for (const user of delivery.users) core.registry.sendTo(user, frame);
    });
    const announce = (what: string, done: Promise<void>): void => {
      done.catch((err: unknown) => core.logger.error({ err, node: nodeId }, `presence: could not record ${what}`));
    };
    node.#stopListening.push(
      core.events.on('login', (e) => {
        if (e.outcome === 'ok' && e.user !== null) announce('a login', presence.add(e.user, nodeId, String(e.id)));
      }),
      core.events.on('connection.closed', (e) => {
        if (e.loggedIn && e.user !== null) announce('a close', presence.remove(e.user, nodeId, String(e.id)));
      }),
    );
    return node;
  }

  async deliver(users: readonly string[], frame: string): Promise<string[]> {
    const { presence, bus, nodeId } = this.#o;
    const byNode = new Map<string, string[]>();
    await Promise.all(
      users.map(async (user) => {
        for (const node of await presence.nodesOf(user)) {
          if (node === nodeId) continue; // not connected here any more: nothing to publish to ourselves
          const list = byNode.get(node) ?? [];
          list.push(user);
          byNode.set(node, list);
        }
      }),
    );
    const reached = new Set<string>();
    await Promise.all(
      [...byNode].map(async ([node, list]) => {
        try {
          await bus.publish(node, { users: list, frame });
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
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = null;
    if (unsubscribe === null) return;
    await unsubscribe();
    await this.#o.presence.dropNode(this.#o.nodeId).catch(() => 0);
  }
}
