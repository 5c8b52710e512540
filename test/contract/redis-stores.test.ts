// The store, presence and bus contracts against the Redis implementations, on a real redis-server
// this file starts (test/helpers/redis-server.ts) and stops. Each store gets its own key prefix,
// so tests share the server without FLUSH (never used on a shared Redis).
import { after, before } from 'node:test';
import { RedisAccountStore } from '../../src/server/redis/account-store.ts';
import { connectRedis } from '../../src/server/redis/client.ts';
import { RedisDeliveryBus } from '../../src/server/redis/delivery-bus.ts';
import { RedisFederationOutbox } from '../../src/server/redis/federation-outbox.ts';
import { RedisOfflineQueue } from '../../src/server/redis/offline-queue.ts';
import { RedisPresence } from '../../src/server/redis/presence.ts';
import { silentLogger } from '../../src/server/log.ts';
import { HAVE_REDIS, startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { accountStoreContract } from './account-store.contract.ts';
import { deliveryBusContract } from './delivery-bus.contract.ts';
import { federationOutboxContract } from './federation-outbox.contract.ts';
import { offlineQueueContract } from './offline-queue.contract.ts';
import { presenceContract } from './presence.contract.ts';

if (!HAVE_REDIS) throw new Error('redis-server is not installed (.ci/run installs the Debian package redis-server)');

let redis: TestRedis;
let n = 0;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

async function options(): Promise<{ client: Awaited<ReturnType<typeof connectRedis>>; prefix: string; ownsClient: true }> {
  const prefix = `t${++n}:`;
  const client = await connectRedis({ url: redis.url, prefix }, silentLogger(), 'test');
  return { client, prefix, ownsClient: true };
}

accountStoreContract('redis', async () => new RedisAccountStore(await options()));
offlineQueueContract('redis', async () => new RedisOfflineQueue(await options()));
federationOutboxContract('redis', async () => new RedisFederationOutbox(await options()));
presenceContract('redis', async () => new RedisPresence(await options()));
deliveryBusContract('redis', async () => new RedisDeliveryBus({ ...(await options()), ackTimeoutMs: 3000 }));
