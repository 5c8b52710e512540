// A daemon whose config names a Redis database and a node id (database.redis.nodeId) is one node
// of a server made of several (docs/scaling.md): its presence and delivery bus are the Redis ones,
// each on its own connection, closed when the daemon stops. Loaded only when used.
import type { AccountsConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { ClusterOptions } from '../presence/cluster-node.ts';

export interface RedisCluster {
  readonly options: ClusterOptions;
  /** Closes the presence and the bus (after ClusterNode.leave). Idempotent. */
  close(): Promise<void>;
}

/** The cluster options the config asks for, or null (not Redis, or no node id: a daemon alone). */
export async function openRedisCluster(accounts: AccountsConfig, logger: Logger): Promise<RedisCluster | null> {
  if (accounts.kind !== 'redis' || accounts.nodeId === null) return null;
  const { connectRedis } = await import('./client.ts');
  const { RedisPresence } = await import('./presence.ts');
  const { RedisDeliveryBus } = await import('./delivery-bus.ts');
  const { prefix } = accounts;
  const log = logger.child({ component: 'cluster' });
  const presenceClient = await connectRedis(accounts, log, 'presence');
  let busClient;
  try {
    busClient = await connectRedis(accounts, log, 'bus');
  } catch (err) {
    await presenceClient.close();
    throw err;
  }
  const presence = new RedisPresence({ client: presenceClient, prefix, ownsClient: true, logger: log });
  const bus = new RedisDeliveryBus({ client: busClient, prefix, ownsClient: true, logger: log });
  return {
    options: { nodeId: accounts.nodeId, presence, bus },
    async close() {
      await bus.close();
      await presence.close();
    },
  };
}
