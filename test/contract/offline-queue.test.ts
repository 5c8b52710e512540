// The OfflineQueue contract (offline-queue.contract.ts) against the memory queue and the SQLite one.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { MemoryOfflineQueue } from '../../src/server/storage/memory-offline-queue.ts';
import { SqliteOfflineQueue } from '../../src/server/storage/sqlite-offline-queue.ts';
import { tempDir } from '../helpers/daemon.ts';
import { offlineQueueContract } from './offline-queue.contract.ts';

const dir = tempDir();
let n = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

offlineQueueContract('memory', () => Promise.resolve(new MemoryOfflineQueue()));
offlineQueueContract('sqlite', () => Promise.resolve(new SqliteOfflineQueue(path.join(dir, `q${++n}.db`))));
