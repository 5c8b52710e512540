// The default account store: one SQLite file (node:sqlite), WAL mode so the running daemon and the
// `bester user` command can use the same file at once. Statements are prepared once and reused;
// with no long-lived read transaction, each query sees what other processes have committed.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { BesterError } from '../../protocol/errors.ts';
import {
  checkUsername,
  normalizeUsername,
  requireValidPassword,
  requireValidUsername,
  type AccountStore,
} from './account-store.ts';
import { DUMMY_HASH, hashPassword, verifyPassword } from './password.ts';
import { openSqliteFile } from '../storage/sqlite-file.ts';
import { canonicalUsername } from '../../protocol/username.ts';

/** PRAGMA user_version this code writes; each step in MIGRATIONS brings the file up one version. */
export const SCHEMA_VERSION = 2;

const MIGRATIONS: ReadonlyArray<string | ((db: DatabaseSync) => void)> = [
  // 0 -> 1
  `CREATE TABLE users (
     username TEXT PRIMARY KEY,
     password_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) STRICT`,
  // 1 -> 2: usernames by the profile (docs/protocol.md §2.6). A name stored in another form
  // (`Alice`) is renamed to its canonical one (`alice`) unless that is taken; a name that collides
  // or breaks the profile keeps its row, matches no login, and shows in `bester user list` for
  // the administrator to remove.
  canonicalNames,
];

function canonicalNames(db: DatabaseSync): void {
  const names = db.prepare('SELECT username FROM users').all().map((row) => String(row['username']));
  const taken = new Set(names);
  const rename = db.prepare('UPDATE users SET username = ? WHERE username = ?');
  for (const name of names) {
    const canonical = canonicalUsername(name);
    if (!canonical.ok || canonical.name === name || taken.has(canonical.name)) continue;
    rename.run(canonical.name, name);
    taken.delete(name);
    taken.add(canonical.name);
  }
}

function storeError(message: string, cause: unknown): BesterError {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return new BesterError('store_error', `${message}${detail}`, { cause });
}

function readUserVersion(db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get();
  const version = row?.['user_version'];
  return typeof version === 'number' ? version : 0;
}

function migrate(db: DatabaseSync): void {
  if (readUserVersion(db) === SCHEMA_VERSION) return;
  // IMMEDIATE takes the write lock first, so two processes opening a new file do not both migrate.
  db.exec('BEGIN IMMEDIATE');
  try {
    const version = readUserVersion(db);
    if (version > SCHEMA_VERSION) {
      throw new BesterError('store_error',
        `the account database has schema version ${version}, newer than this version of bester knows (${SCHEMA_VERSION})`);
    }
    for (let v = version; v < SCHEMA_VERSION; v++) {
      const step = MIGRATIONS[v];
      if (typeof step === 'string') db.exec(step);
      else step?.(db);
    }
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

function openDatabase(path: string): DatabaseSync {
  const db = openSqliteFile(path);
  try {
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

interface Statements {
  readonly getHash: StatementSync;
  readonly exists: StatementSync;
  readonly insert: StatementSync;
  readonly update: StatementSync;
  readonly remove: StatementSync;
  readonly list: StatementSync;
}

function prepare(db: DatabaseSync): Statements {
  return {
    getHash: db.prepare('SELECT password_hash FROM users WHERE username = ?'),
    exists: db.prepare('SELECT 1 AS found FROM users WHERE username = ?'),
    insert: db.prepare(
      'INSERT INTO users (username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (username) DO NOTHING'),
    update: db.prepare('UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?'),
    remove: db.prepare('DELETE FROM users WHERE username = ?'),
    list: db.prepare('SELECT username FROM users'),
  };
}

class SqliteAccountStore implements AccountStore {
  readonly #path: string;
  #db: DatabaseSync | null;
  readonly #statements: Statements;

  constructor(path: string, db: DatabaseSync) {
    this.#path = path;
    this.#db = db;
    this.#statements = prepare(db);
  }

  /** Runs one database step, turning SQLite failures (and use after close) into a store_error rejection. */
  #run<T>(what: string, step: (s: Statements) => T): Promise<T> {
    if (this.#db === null) {
      return Promise.reject(new BesterError('store_error', `the account store ${this.#path} is closed`));
    }
    try {
      return Promise.resolve(step(this.#statements));
    } catch (err) {
      return Promise.reject(storeError(`account store ${this.#path}: cannot ${what}`, err));
    }
  }

  async verify(username: string, password: string): Promise<boolean> {
    const name = normalizeUsername(username);
    if (checkUsername(name) !== null || typeof password !== 'string' || password.length === 0) return false;
    const row = await this.#run('read a user', (s) => s.getHash.get(name));
    const stored = row?.['password_hash'];
    if (typeof stored !== 'string') {
      await verifyPassword(password, DUMMY_HASH); // same cost as a wrong password
      return false;
    }
    return verifyPassword(password, stored);
  }

  async add(username: string, password: string): Promise<void> {
    const name = requireValidUsername(username);
    requireValidPassword(password);
    const hash = await hashPassword(password);
    const now = Date.now();
    const result = await this.#run('add a user', (s) => s.insert.run(name, hash, now, now));
    if (result.changes === 0) throw new BesterError('store_error', `user ${JSON.stringify(name)} already exists`);
  }

  async remove(username: string): Promise<boolean> {
    const name = normalizeUsername(username);
    const result = await this.#run('remove a user', (s) => s.remove.run(name));
    return result.changes > 0;
  }

  async setPassword(username: string, password: string): Promise<boolean> {
    const name = requireValidUsername(username);
    requireValidPassword(password);
    // Cheap existence check first, so an unknown user does not cost a hash; the UPDATE decides anyway.
    if (!(await this.has(name))) return false;
    const hash = await hashPassword(password);
    const result = await this.#run('change a password', (s) => s.update.run(hash, Date.now(), name));
    return result.changes > 0;
  }

  async has(username: string): Promise<boolean> {
    const name = normalizeUsername(username);
    const row = await this.#run('read a user', (s) => s.exists.get(name));
    return row !== undefined;
  }

  async list(): Promise<string[]> {
    const rows = await this.#run('list users', (s) => s.list.all());
    const names = rows.map((row) => row['username']).filter((n): n is string => typeof n === 'string');
    return names.sort();
  }

  close(): Promise<void> {
    const db = this.#db;
    this.#db = null;
    if (db !== null && db.isOpen) db.close();
    return Promise.resolve();
  }
}

/** Opens (creating if needed, mode 0600) the SQLite account file at `path`. */
export function openSqliteAccountStore(path: string): Promise<AccountStore> {
  try {
    return Promise.resolve(new SqliteAccountStore(path, openDatabase(path)));
  } catch (err) {
    if (err instanceof BesterError) return Promise.reject(err);
    return Promise.reject(storeError(`cannot open the account database ${path}`, err));
  }
}
