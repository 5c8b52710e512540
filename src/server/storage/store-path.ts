// Where the daemon's SQLite file is: accounts, the federation outbox and offline messages share it
// (docs/configuration.md, "database").
import path from 'node:path';
import { DEFAULT_SQLITE_PATH } from '../config/defaults.ts';
import type { ServerConfig } from '../config/types.ts';

/** The SQLite file the config names, or `bester.db` beside the config file. */
export function storePath(config: ServerConfig): string {
  return config.accounts.kind === 'sqlite' ? config.accounts.path : path.join(config.baseDir, DEFAULT_SQLITE_PATH);
}
