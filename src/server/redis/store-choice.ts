// Which backend keeps the daemon's offline deliveries: Redis when the config's database is Redis
// (every node of a cluster then shares them, docs/scaling.md), else the daemon's SQLite file.
// The Redis modules are loaded only when used.
import type { ServerConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { OfflineQueue } from '../storage/offline-queue.ts';
import { SqliteOfflineQueue } from '../storage/sqlite-offline-queue.ts';
import { storePath } from '../storage/store-path.ts';

export async function openOfflineQueue(config: ServerConfig, logger?: Logger): Promise<OfflineQueue> {
  if (config.accounts.kind === 'redis') {
    const { openRedisOfflineQueue } = await import('./open.ts');
    return openRedisOfflineQueue(config.accounts, logger);
  }
  return new SqliteOfflineQueue(storePath(config));
}
