// Where a delivery a dead node did not make goes now (docs/scaling.md "When a node dies"): to its
// users' sessions here, to the other live nodes presence names for them, and, for a user connected
// nowhere, into the offline queue for their next login (the same caps and TTL as any kept delivery).
import { encodeJsonFrame } from '../../protocol/frame.ts';
import { BesterError } from '../../protocol/errors.ts';
import type { Logger } from '../log.ts';
import type { OfflineDelivery } from '../offline/offline-delivery.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { RerouteResult } from './cluster-faults.ts';
import type { BusDelivery, DeliveryBus } from './delivery-bus.ts';
import type { Presence } from './presence.ts';

export interface RerouterOptions {
  readonly nodeId: string;
  readonly presence: Presence;
  readonly bus: DeliveryBus;
  readonly registry: SessionRegistry;
  /** Absent: offline delivery is off, and a user connected nowhere is reported not reached. */
  readonly offline?: Pick<OfflineDelivery, 'keepText'>;
  readonly logger: Logger;
}

export class Rerouter {
  readonly #o: RerouterOptions;

  constructor(options: RerouterOptions) {
    this.#o = options;
  }

  /** Rejects (the delivery stays for the next try) only when the offline store failed. */
  async reroute(dead: string, delivery: BusDelivery): Promise<RerouteResult> {
    const { presence, bus, registry, nodeId } = this.#o;
    const frame = encodeJsonFrame(delivery.frame);
    const here = new Set<string>();
    const byNode = new Map<string, string[]>();
    const nowhere = new Set<string>();
    for (const user of delivery.users) {
      if (registry.sendTo(user, frame)) here.add(user);
      const nodes = (await presence.nodesOf(user)).filter((n) => n !== dead && n !== nodeId);
      for (const node of nodes) byNode.set(node, [...(byNode.get(node) ?? []), user]);
      if (!here.has(user) && nodes.length === 0) nowhere.add(user);
    }
    await Promise.all(
      [...byNode].map(async ([node, users]) => {
        try {
          await bus.publish(node, { ...delivery, users });
        } catch (err) {
          // That node is gone too: keep it for whoever did not get it here (a duplicate at worst).
          this.#o.logger.warn({ err, node, users }, 'cluster: a re-routed delivery did not reach a node; kept instead');
          for (const user of users) if (!here.has(user)) nowhere.add(user);
        }
      }),
    );
    if (nowhere.size === 0) return { ok: true };
    const users = [...nowhere];
    const { offline } = this.#o;
    if (offline === undefined) return { ok: false, error: `not connected: ${users.join(', ')}` };
    // The message's own context when its publisher sent it along (BusKept); else only its type.
    const context = delivery.kept ?? { type: typeOf(delivery.frame), id: null, sender: null };
    const kept = await offline.keepText(users, delivery.frame, context);
    if (kept.failed.length > 0) throw new BesterError('store_error', `could not keep a re-routed delivery for ${kept.failed.join(', ')}`);
    const lost = [...kept.full, ...kept.unknown];
    if (lost.length === 0) return { ok: true };
    return { ok: false, error: `not kept for ${lost.join(', ')}: ${Object.values(kept.fullReasons ?? {})[0] ?? 'no such user'}` };
  }
}

/** The delivery's type (builders.ts deliveryJson), for the kept entry. */
function typeOf(frame: string): string {
  try {
    const type = (JSON.parse(frame) as { payload?: { type?: unknown } }).payload?.type;
    return typeof type === 'string' ? type : '';
  } catch {
    return '';
  }
}
