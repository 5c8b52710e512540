// A daemon whose config names a Redis database and a node id (database.redis.nodeId) is one node
// of a server made of several (docs/scaling.md): its presence and delivery bus are the Redis ones,
// each on its own connection, closed when the daemon stops. Loaded only when used.
import { setTimeout as sleep } from 'node:timers/promises';
import type { AccountsConfig, LoginFailureLimits } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { ClusterFaults } from '../presence/cluster-faults.ts';
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
  const { connectRedis, onMasterChange } = await import('./client.ts');
  const { RedisPresence } = await import('./presence.ts');
  const { RedisDeliveryBus } = await import('./delivery-bus.ts');
  const { NodeTakeover } = await import('./node-takeover.ts');
  const { RedisKeptNotice } = await import('./kept-notice.ts');
  const { CLOSE_WAIT_MS } = await import('./store-base.ts');
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
  const { heartbeatMs, expiryMs, ackTimeoutMs } = accounts.timing;
  const forgotten: Array<(node: string) => void> = [];
  const presence = new RedisPresence({
    client: presenceClient, prefix, ownsClient: true, logger: log, heartbeatMs, expiryMs,
    onForgotten: (node) => forgotten.forEach((listener) => listener(node)),
  });
  // A Sentinel failover: sessions written again, no node judged dead at once (presence.ts).
  onMasterChange(presenceClient, log, (master) => {
    log.info({ master, node: accounts.nodeId }, 'presence: the Redis master changed; this node writes its sessions again and judges no node dead for expiryMs');
    presence.masterChanged();
  });
  const bus = new RedisDeliveryBus({
    client: busClient, prefix, ownsClient: true, logger: log, heartbeatMs, expiryMs, ackTimeoutMs, countsReceivers: !accounts.cluster,
  });
  // The takeover shares the presence's connection: a node cut off from Redis takes nothing over.
  const takeover = new NodeTakeover({ client: presenceClient, prefix, nodeId: accounts.nodeId, heartbeatMs, leaseMs: Math.max(10_000, 3 * expiryMs), logger: log });
  // PUBLISH on the presence's connection, SUBSCRIBE on one of its own (docs/scaling.md "Back from a cut").
  const { nodeId } = accounts;
  const kept = await RedisKeptNotice.open({ client: presenceClient, prefix, nodeId, logger: log }).catch(async (err: unknown) => {
    await Promise.all([takeover.close(), throttle.close(), bus.close(), presence.close()]);
    throw err;
  });
  const faults: ClusterFaults = {
    cutOff: () => presence.cutOff(),
    onForgotten: (listener) => forgotten.push(listener),
    takeOverOwn: (reroute) => takeover.takeOverOwn(reroute),
    watch: (reroute) => takeover.watch(reroute),
    busReady: () => bus.reading(nodeId),
    kept,
  };
  return {
    options: { nodeId: accounts.nodeId, presence, bus, faults, timeoutMs: ackTimeoutMs },
    throttle,
    async close() {
      await kept.close();
      // Cut off from Redis, a sweep in progress waits on the presence's connection, destroyed just
      // below: not waited for then (nor for long otherwise).
      const wait = presenceClient.isReady ? CLOSE_WAIT_MS : 0;
      await Promise.race([takeover.close(), sleep(wait, undefined, { ref: false })]);
      await throttle.close();
      await bus.close();
      await presence.close();
    },
  };
}
