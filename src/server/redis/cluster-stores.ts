// A daemon whose config names a Redis database and a node id (database.redis.nodeId) is one node
// of a server made of several (docs/scaling.md): its presence and delivery bus are the Redis ones,
// each on its own connection, closed when the daemon stops. Loaded only when used.
import type { AccountsConfig, LoginFailureLimits } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { ClusterOptions } from '../presence/cluster-node.ts';
import type { FailedLoginThrottle } from '../session/login-throttle.ts';

export interface RedisCluster {
  readonly options: ClusterOptions;
  /** Failed logins counted for the whole cluster (redis/login-throttle.ts). */
  readonly throttle: FailedLoginThrottle;
  /** Closes the presence and the bus (after ClusterNode.leave). Idempotent. */
  close(): Promise<void>;
}

/** The cluster options the config asks for, or null (not Redis, or no node id: a daemon alone). */
export async function openRedisCluster(accounts: AccountsConfig, logger: Logger, limits: LoginFailureLimits): Promise<RedisCluster | null> {
  if (accounts.kind !== 'redis' || accounts.nodeId === null) return null;
  const { connectRedis } = await import('./client.ts');
  const { RedisPresence } = await import('./presence.ts');
  const { RedisDeliveryBus } = await import('./delivery-bus.ts');
  const { prefix } = accounts;
  const log = logger.child({ component: 'cluster' });
  const presenceClient = await connectRedis(accounts, log, 'presence');
  let busClient;
  let throttleClient;
  try {
    busClient = await connectRedis(accounts, log, 'bus');
    throttleClient = await connectRedis(accounts, log, 'throttle');
  } catch (err) {
    await presenceClient.close();
    if (busClient?.isOpen === true) await busClient.close();
    throw err;
  }
  const { RedisLoginThrottle } = await import('./login-throttle.ts');
  const throttle = new RedisLoginThrottle({ client: throttleClient, prefix, limits, logger: log, ownsClient: true });
  const presence = new RedisPresence({ client: presenceClient, prefix, ownsClient: true, logger: log });
  const bus = new RedisDeliveryBus({ client: busClient, prefix, ownsClient: true, logger: log });
  return {
    options: { nodeId: accounts.nodeId, presence, bus },
    throttle,
    async close() {
      await throttle.close();
      await bus.close();
      await presence.close();
    },
  };
}
