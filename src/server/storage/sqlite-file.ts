// Opening the daemon's SQLite file (node:sqlite): created with mode 0600 before SQLite touches it,
// WAL mode so the running daemon and the `bester` command can use it at once, a busy timeout.
// Accounts, the federation outbox and (later) offline messages all live in this one file.
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { BesterError } from '../../protocol/errors.ts';

export const BUSY_TIMEOUT_MS = 5000;

/**
 * Creates the missing folders above `path` (mode 0700) one at a time: mkdirSync's `recursive`
 * spins forever where mkdir keeps failing with ENOENT (under /proc, for one).
 */
function createFolders(folder: string): void {
  if (existsSync(folder)) return;
  const parent = dirname(folder);
  if (parent !== folder) createFolders(parent);
  try {
    mkdirSync(folder, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Creates the file with mode 0600 if it is missing, so SQLite (and its -wal/-shm files) never widen it. */
function createPrivateFile(path: string): void {
  createFolders(dirname(path));
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Opens (creating if needed) the SQLite file at `path` in WAL mode. The caller migrates its tables. */
export function openSqliteFile(path: string): DatabaseSync {
  createPrivateFile(path);
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const mode = db.prepare('PRAGMA journal_mode = WAL').get()?.['journal_mode'];
    if (mode !== 'wal') throw new BesterError('store_error', `could not switch ${path} to WAL mode (got ${String(mode)})`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Runs `fn` in an IMMEDIATE transaction (takes the write lock first); rolls back if it throws. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

/**
 * Opens the SQLite file and creates a component's tables (`CREATE ... IF NOT EXISTS` statements)
 * in one transaction; throws store_error naming the component when that fails.
 */
export function openWithTables(path: string, schema: readonly string[], component: string): DatabaseSync {
  const db = openSqliteFile(path);
  try {
    transaction(db, () => {
      for (const sql of schema) db.exec(sql);
    });
    return db;
  } catch (err) {
    db.close();
    throw new BesterError('store_error', `cannot prepare ${component} tables in ${path}: ${(err as Error).message}`, { cause: err });
  }
}
