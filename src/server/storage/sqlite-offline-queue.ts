// The offline queue (offline-queue.ts) in the daemon's SQLite file (docs/protocol.md §4.3.1).
// One row per (user, message), in arrival order (an AUTOINCREMENT id never reused), each holding the
// exact delivery frame the user would have received. Rows leave the table when the frame was written
// to the user's socket (remove) or when their TTL passed (takeExpired). node:sqlite is synchronous:
// each call runs at once and its promise is already settled.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  MAX_EXPIRED_PER_CALL,
  type NewOfflineEntry,
  type OfflineEntry,
  type OfflineEntryId,
  type OfflineQueue,
  type PutOptions,
  entryBytes,
  overCap,
} from './offline-queue.ts';
import { openWithTables, transaction } from './sqlite-file.ts';
import { closedError, storeError } from './store-error.ts';

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS offline_messages (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     user TEXT NOT NULL,
     frame TEXT NOT NULL,
     msg_type TEXT NOT NULL,
     msg_id TEXT,
     sender TEXT,
     origin TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT`,
  `CREATE INDEX IF NOT EXISTS offline_messages_user ON offline_messages (user, id)`,
  `CREATE INDEX IF NOT EXISTS offline_messages_expiry ON offline_messages (expires_at)`,
];

type Statements = Record<'count' | 'usage' | 'totalBytes' | 'insert' | 'page' | 'remove' | 'expired' | 'removeExpired' | 'total', StatementSync>;

export class SqliteOfflineQueue implements OfflineQueue {
  readonly #path: string;
  readonly #db: DatabaseSync;
  readonly #s: Statements;
  #closed = false;
  /**
   * Bytes waiting for everyone: read once at open, then kept by this process (the daemon is the
   * only writer of its offline table), so a put never sums the whole table.
   */
  #totalBytes: number;

  /** Opens (creating if needed) the queue's table in the SQLite file at `path`; throws store_error. */
  constructor(path: string) {
    this.#path = path;
    this.#db = openWithTables(path, SCHEMA, 'offline');
    const db = this.#db;
    this.#s = {
      count: db.prepare('SELECT COUNT(*) AS n FROM offline_messages WHERE user = ?'),
      usage: db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(length(CAST(frame AS BLOB))), 0) AS b FROM offline_messages WHERE user = ?'),
      totalBytes: db.prepare('SELECT COALESCE(SUM(length(CAST(frame AS BLOB))), 0) AS b FROM offline_messages'),
      insert: db.prepare(
        `INSERT INTO offline_messages (user, frame, msg_type, msg_id, sender, origin, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      page: db.prepare('SELECT * FROM offline_messages WHERE user = ? AND id > ? ORDER BY id LIMIT ?'),
      remove: db.prepare('DELETE FROM offline_messages WHERE id = ? RETURNING length(CAST(frame AS BLOB)) AS b'),
      expired: db.prepare(`SELECT * FROM offline_messages WHERE expires_at <= ? ORDER BY id LIMIT ${MAX_EXPIRED_PER_CALL}`),
      removeExpired: db.prepare('DELETE FROM offline_messages WHERE id = ? AND expires_at <= ?'),
      total: db.prepare('SELECT COUNT(*) AS n FROM offline_messages'),
    };
    this.#totalBytes = Number(this.#s.totalBytes.get()?.['b'] ?? 0);
  }

  /** Runs one database step; SQLite failures and use after close become store_error rejections. */
  #run<T>(what: string, step: (s: Statements) => T): Promise<T> {
    if (this.#closed) return Promise.reject(closedError(`offline queue ${this.#path}`));
    try {
      return Promise.resolve(step(this.#s));
    } catch (err) {
      return Promise.reject(storeError(`offline queue ${this.#path}: cannot ${what}`, err));
    }
  }

  put(entry: NewOfflineEntry, options: PutOptions): Promise<OfflineEntry> {
    return this.#run('keep a message', (s) =>
      transaction(this.#db, () => {
        const usage = s.usage.get(entry.user);
        const size = entryBytes(entry);
        const waiting = { count: Number(usage?.['n'] ?? 0), bytes: Number(usage?.['b'] ?? 0), totalBytes: this.#totalBytes };
        const refusal = overCap(entry.user, waiting, size, options);
        if (refusal !== null) throw refusal;
        const createdAt = options.now;
        const expiresAt = options.now + options.ttlMs;
        const result = s.insert.run(
          entry.user, entry.frame, entry.msgType, entry.msgId, entry.sender, entry.origin, createdAt, expiresAt,
        );
        this.#totalBytes += size;
        return { ...entry, id: Number(result.lastInsertRowid), createdAt, expiresAt };
      }));
  }

  page(user: string, after: OfflineEntryId | null, limit: number): Promise<OfflineEntry[]> {
    return this.#run('read messages', (s) => s.page.all(user, after === null ? 0 : Number(after), limit).map(toEntry));
  }

  remove(id: OfflineEntryId): Promise<boolean> {
    return this.#run('remove a message', (s) => {
      const row = s.remove.get(Number(id));
      if (row === undefined) return false;
      this.#totalBytes -= Number(row['b'] ?? 0);
      return true;
    });
  }

  takeExpired(now: number, skip: (user: string) => boolean = () => false): Promise<OfflineEntry[]> {
    return this.#run('remove expired messages', (s) => {
      const rows = s.expired.all(now).map(toEntry).filter((r) => !skip(r.user));
      if (rows.length === 0) return rows;
      const taken = transaction(this.#db, () => rows.filter((r) => Number(s.removeExpired.run(r.id, now).changes) > 0));
      for (const r of taken) this.#totalBytes -= entryBytes(r);
      return taken;
    });
  }

  waiting(user?: string): Promise<number> {
    return this.#run('count messages', (s) => {
      const row = user === undefined ? s.total.get() : s.count.get(user);
      return Number(row?.['n'] ?? 0);
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }
}

function toEntry(row: Record<string, unknown>): OfflineEntry {
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return {
    id: Number(row['id']),
    user: String(row['user']),
    frame: String(row['frame']),
    msgType: String(row['msg_type']),
    msgId: text(row['msg_id']),
    sender: text(row['sender']),
    origin: text(row['origin']),
    createdAt: Number(row['created_at']),
    expiresAt: Number(row['expires_at']),
  };
}
