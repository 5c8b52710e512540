// The lease on each peer's link for a daemon that is one node of a cluster on Redis (the config's
// database is Redis with a nodeId, docs/scaling.md "Federation from a cluster"): its own Redis
// connection, the lease store, and the ownership rounds that start and stop this node's links.
// Null for a daemon alone: it owns every link. The Redis modules are loaded only when used.
import { randomBytes } from 'node:crypto';
import type { ServerConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { Federation } from './federation.ts';
import { LinkOwnership, type LinkLease } from './link-ownership.ts';

/** How long a lease runs without renewal: the longest a dead node's links stay without a sender. */
export const LINK_LEASE_MS = 5000;

export interface ClusterOwnership {
  readonly ownership: LinkOwnership;
  /** Takes the first leases and listens for announcements. */
  start(): Promise<void>;
  /** Gives every lease up and closes the connections. Idempotent. */
  close(): Promise<void>;
}

export async function clusterOwnership(config: ServerConfig, logger: Logger, federation: () => Federation): Promise<ClusterOwnership | null> {
  const db = config.accounts;
  if (db.kind !== 'redis' || db.nodeId === null) return null;
  const { connectRedis } = await import('../redis/client.ts');
  const { RedisLinkLease } = await import('../redis/link-lease.ts');
  const log = logger.child({ component: 'federation-lease' });
  const client = await connectRedis(db, log, 'federation-lease');
  const lease: LinkLease = new RedisLinkLease({ client, prefix: db.prefix, owner: `${db.nodeId}/${randomBytes(4).toString('hex')}`, leaseMs: LINK_LEASE_MS, logger: log });
  const ownership = new LinkOwnership({
    lease,
    leaseMs: LINK_LEASE_MS,
    logger: log,
    // Every peer this node could send to: configured with an address, or with messages waiting (a legacy target).
    peers: () => {
      const fed = federation();
      const peers = new Set<string>();
      for (const peer of config.federation.peers.values()) if (peer.host !== null) peers.add(peer.name);
      for (const peer of Object.keys(fed.status().waiting)) peers.add(peer);
      return peers;
    },
    changed: (peer, owned) => federation().ownershipChanged(peer, owned),
    afterRound: () => void federation().kickWaiting(),
  });
  let closed: Promise<void> | null = null;
  return {
    ownership,
    async start() {
      await lease.listen((peer) => federation().kick(peer));
      await ownership.tick();
    },
    close() {
      closed ??= (async () => {
        await ownership.close();
        await lease.close();
        if (client.isOpen) await client.close();
      })();
      return closed;
    },
  };
}
