// Opening the Redis stores the config names (database.type "redis", docs/configuration.md): each
// store gets its own connection (closed with it), and the data-set marker is checked on it at once
// and after every reconnect (client.ts), so a Redis that lost its data is logged, never silently
// taken as an empty server. Behind Sentinel, the accounts connection (every daemon on Redis has
// one) logs each new master once (docs/scaling.md "At a Sentinel failover").
import type { RedisAccountsConfig } from '../config/types.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { AccountStore } from '../accounts/account-store.ts';
import type { OfflineQueue } from '../storage/offline-queue.ts';
import type { FederationOutbox } from '../storage/federation-outbox.ts';
import { RedisAccountStore } from './account-store.ts';
import { connectRedis, DataSetMarker, onMasterChange, type RedisClient } from './client.ts';
import { RedisFederationOutbox } from './federation-outbox.ts';
import { RedisKeys } from './keys.ts';
import { RedisOfflineQueue } from './offline-queue.ts';

async function connectChecked(config: RedisAccountsConfig, logger: Logger, name: string): Promise<RedisClient> {
  const client = await connectRedis(config, logger, name);
  try {
    await new DataSetMarker(client, new RedisKeys(config.prefix), logger).check();
  } catch (err) {
    client.destroy();
    throw err;
  }
  if (name === 'accounts' && config.sentinel) {
    const sentinel = config.sentinel.name;
    onMasterChange(client, logger, (master) => logger.warn({ master, sentinel }, 'redis: the Sentinels named a new master (a failover); Bester now uses it'));
  }
  return client;
}

export async function openRedisAccountStore(config: RedisAccountsConfig, logger: Logger = silentLogger()): Promise<AccountStore> {
  const client = await connectChecked(config, logger, 'accounts');
  return new RedisAccountStore({ client, prefix: config.prefix, ownsClient: true });
}

export async function openRedisOfflineQueue(config: RedisAccountsConfig, logger: Logger = silentLogger()): Promise<OfflineQueue> {
  const client = await connectChecked(config, logger, 'offline');
  return new RedisOfflineQueue({ client, prefix: config.prefix, ownsClient: true });
}

export async function openRedisFederationOutbox(config: RedisAccountsConfig, logger: Logger = silentLogger()): Promise<FederationOutbox> {
  const client = await connectChecked(config, logger, 'outbox');
  return new RedisFederationOutbox({ client, prefix: config.prefix, ownsClient: true });
}
