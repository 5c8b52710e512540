// Deliveries kept for users who were offline (docs/protocol.md §4.3.1), in the daemon's SQLite file.
// One row per (user, message), in arrival order (an AUTOINCREMENT id never reused), each holding the
// exact delivery frame the user would have received. Rows leave the table when the frame was written
// to the user's socket (remove) or when their TTL passed (takeExpired).
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { BesterError } from '../../protocol/errors.ts';
import { openWithTables, transaction } from './sqlite-file.ts';

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

export interface OfflineEntry {
  readonly id: number;
  /** The recipient. */
  readonly user: string;
  /** The delivery frame's JSON text (docs/protocol.md §3.4), exactly as it would have been sent. */
  readonly frame: string;
  /** The type of the message its sender sent (for the expiry notice). */
  readonly msgType: string;
  /** The sender's message id, when it had one. */
  readonly msgId: string | null;
  /** The user who sent it (as the origin server vouches, for a federated message). */
  readonly sender: string | null;
  /** The server where it entered the federation; null for a message from one of our clients. */
  readonly origin: string | null;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export type NewOfflineEntry = Omit<OfflineEntry, 'id' | 'createdAt' | 'expiresAt'>;

export class OfflineStore {
  readonly #db: DatabaseSync;
  readonly #s: Record<'count' | 'insert' | 'page' | 'remove' | 'expired' | 'removeExpired' | 'total', StatementSync>;
  #closed = false;

  constructor(path: string) {
    this.#db = openWithTables(path, SCHEMA, 'offline');
    const db = this.#db;
    this.#s = {
      count: db.prepare('SELECT COUNT(*) AS n FROM offline_messages WHERE user = ?'),
      insert: db.prepare(
        `INSERT INTO offline_messages (user, frame, msg_type, msg_id, sender, origin, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      page: db.prepare('SELECT * FROM offline_messages WHERE user = ? AND id > ? ORDER BY id LIMIT ?'),
      remove: db.prepare('DELETE FROM offline_messages WHERE id = ?'),
      expired: db.prepare('SELECT * FROM offline_messages WHERE expires_at <= ? ORDER BY id LIMIT 1000'),
      removeExpired: db.prepare('DELETE FROM offline_messages WHERE id = ? AND expires_at <= ?'),
      total: db.prepare('SELECT COUNT(*) AS n FROM offline_messages'),
    };
  }

  /**
   * Appends a delivery for `entry.user`; durable when this returns. Throws recipient_queue_full when
   * the user already has `cap` messages waiting.
   */
  put(entry: NewOfflineEntry, options: { now: number; ttlMs: number; cap: number }): OfflineEntry {
    return transaction(this.#db, () => {
      const count = Number(this.#s.count.get(entry.user)?.['n'] ?? 0);
      if (count >= options.cap) {
        throw new BesterError('recipient_queue_full', `${count} messages are already waiting for "${entry.user}" (the limit)`);
      }
      const createdAt = options.now;
      const expiresAt = options.now + options.ttlMs;
      const result = this.#s.insert.run(
        entry.user, entry.frame, entry.msgType, entry.msgId, entry.sender, entry.origin, createdAt, expiresAt,
      );
      return { ...entry, id: Number(result.lastInsertRowid), createdAt, expiresAt };
    });
  }

  /** Messages waiting for `user` after the one with id `afterId`, oldest first. */
  page(user: string, afterId: number, limit: number): OfflineEntry[] {
    return this.#s.page.all(user, afterId, limit).map(toEntry);
  }

  /** The message was written to the user's socket: it is no longer ours to keep. False if it was gone. */
  remove(id: number): boolean {
    if (this.#closed) return false;
    return Number(this.#s.remove.run(id).changes) > 0;
  }

  /**
   * Removes and returns messages past their expiry (at most 1000 per call), except those of the
   * users `keep` names (a flush to them is running; the next sweep takes what it left).
   */
  takeExpired(now: number, keep: (user: string) => boolean = () => false): OfflineEntry[] {
    const rows = this.#s.expired.all(now).map(toEntry).filter((r) => !keep(r.user));
    if (rows.length === 0) return rows;
    return transaction(this.#db, () => rows.filter((r) => Number(this.#s.removeExpired.run(r.id, now).changes) > 0));
  }

  /** Messages waiting, for one user or for everyone. */
  waiting(user?: string): number {
    const row = user === undefined ? this.#s.total.get() : this.#s.count.get(user);
    return Number(row?.['n'] ?? 0);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
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
