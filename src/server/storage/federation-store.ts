// Durable federation state in the daemon's SQLite file (docs/federation.md §4):
// - the outbox: messages for each peer, in sequence order, until the peer acknowledges them;
// - the last sequence number processed from each peer (deduplication of resent messages);
// - this server's node id when the config does not name one (stable across restarts).
import { randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { BesterError } from '../../protocol/errors.ts';
import { openWithTables, transaction } from './sqlite-file.ts';

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS bester_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`,
  `CREATE TABLE IF NOT EXISTS federation_outbox (
     peer TEXT NOT NULL,
     seq INTEGER NOT NULL,
     type TEXT NOT NULL,
     msg_id TEXT NOT NULL,
     data TEXT NOT NULL,
     origin TEXT NOT NULL,
     hops INTEGER NOT NULL,
     sender TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (peer, seq)
   ) STRICT`,
  `CREATE INDEX IF NOT EXISTS federation_outbox_expiry ON federation_outbox (expires_at)`,
  `CREATE TABLE IF NOT EXISTS federation_next_seq (peer TEXT PRIMARY KEY, next_seq INTEGER NOT NULL) STRICT`,
  `CREATE TABLE IF NOT EXISTS federation_inbound (peer TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) STRICT`,
];

export interface OutboxEntry {
  readonly peer: string;
  readonly seq: number;
  readonly type: string;
  /** The message id as it travels (the sender's id, or origin:seq when it had none). */
  readonly msgId: string;
  readonly data: unknown;
  readonly origin: string;
  readonly hops: number;
  readonly sender: string | null;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export type NewOutboxEntry = Omit<OutboxEntry, 'seq' | 'createdAt' | 'expiresAt'>;

export class FederationStore {
  readonly #db: DatabaseSync;
  readonly #s: Record<
    'count' | 'nextSeq' | 'setNextSeq' | 'insert' | 'pending' | 'remove' | 'expired' | 'removeExpired' | 'lastIn' | 'setLastIn' | 'meta' | 'setMeta' | 'all',
    StatementSync
  >;
  #closed = false;

  constructor(path: string) {
    this.#db = openWithTables(path, SCHEMA, 'federation');
    const db = this.#db;
    this.#s = {
      count: db.prepare('SELECT COUNT(*) AS n FROM federation_outbox WHERE peer = ?'),
      nextSeq: db.prepare('SELECT next_seq FROM federation_next_seq WHERE peer = ?'),
      setNextSeq: db.prepare(
        'INSERT INTO federation_next_seq (peer, next_seq) VALUES (?, ?) ON CONFLICT (peer) DO UPDATE SET next_seq = excluded.next_seq'),
      insert: db.prepare(
        `INSERT INTO federation_outbox (peer, seq, type, msg_id, data, origin, hops, sender, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      pending: db.prepare('SELECT * FROM federation_outbox WHERE peer = ? AND seq > ? ORDER BY seq LIMIT ?'),
      remove: db.prepare('DELETE FROM federation_outbox WHERE peer = ? AND seq = ?'),
      expired: db.prepare('SELECT * FROM federation_outbox WHERE expires_at <= ? ORDER BY peer, seq LIMIT 1000'),
      removeExpired: db.prepare('DELETE FROM federation_outbox WHERE peer = ? AND seq = ? AND expires_at <= ?'),
      lastIn: db.prepare('SELECT last_seq FROM federation_inbound WHERE peer = ?'),
      setLastIn: db.prepare(
        'INSERT INTO federation_inbound (peer, last_seq) VALUES (?, ?) ON CONFLICT (peer) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)'),
      meta: db.prepare('SELECT value FROM bester_meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO bester_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
      all: db.prepare('SELECT peer, COUNT(*) AS n FROM federation_outbox GROUP BY peer'),
    };
  }

  /** This server's node id: the one stored, or a new random one stored now. */
  nodeId(): string {
    const row = this.#s.meta.get('node_id');
    if (typeof row?.['value'] === 'string') return row['value'];
    this.#s.setMeta.run('node_id', `node-${randomBytes(6).toString('hex')}`);
    return String(this.#s.meta.get('node_id')?.['value']);
  }

  /**
   * Appends a message for `peer` and returns its entry (with its sequence number). Durable when
   * this returns. Throws peer_queue_full when the peer already has `cap` messages waiting.
   */
  enqueue(entry: NewOutboxEntry, options: { now: number; ttlMs: number; cap: number }): OutboxEntry {
    return transaction(this.#db, () => {
      const count = Number(this.#s.count.get(entry.peer)?.['n'] ?? 0);
      if (count >= options.cap) {
        throw new BesterError('peer_queue_full', `${count} messages are already waiting for server "${entry.peer}" (the limit)`);
      }
      const seq = Number(this.#s.nextSeq.get(entry.peer)?.['next_seq'] ?? 1);
      this.#s.setNextSeq.run(entry.peer, seq + 1);
      const full: OutboxEntry = { ...entry, seq, createdAt: options.now, expiresAt: options.now + options.ttlMs };
      this.#s.insert.run(
        full.peer, full.seq, full.type, full.msgId, JSON.stringify(full.data ?? null), full.origin, full.hops,
        full.sender, full.createdAt, full.expiresAt,
      );
      return full;
    });
  }

  /** Messages for `peer` after `afterSeq`, oldest first. */
  pending(peer: string, afterSeq: number, limit: number): OutboxEntry[] {
    return this.#s.pending.all(peer, afterSeq, limit).map(toEntry);
  }

  /** The peer acknowledged `seq`: it is no longer ours to keep. */
  acknowledge(peer: string, seq: number): void {
    this.#s.remove.run(peer, seq);
  }

  /** Removes and returns messages past their expiry (at most 1000 per call). */
  takeExpired(now: number): OutboxEntry[] {
    const rows = this.#s.expired.all(now).map(toEntry);
    if (rows.length === 0) return rows;
    transaction(this.#db, () => {
      for (const r of rows) this.#s.removeExpired.run(r.peer, r.seq, now);
    });
    return rows;
  }

  /** Messages waiting, per peer. */
  waiting(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.#s.all.all()) out[String(row['peer'])] = Number(row['n']);
    return out;
  }

  /** The highest sequence number processed from `peer` (0 if none). */
  lastInbound(peer: string): number {
    return Number(this.#s.lastIn.get(peer)?.['last_seq'] ?? 0);
  }

  recordInbound(peer: string, seq: number): void {
    this.#s.setLastIn.run(peer, seq);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}

function toEntry(row: Record<string, unknown>): OutboxEntry {
  return {
    peer: String(row['peer']),
    seq: Number(row['seq']),
    type: String(row['type']),
    msgId: String(row['msg_id']),
    data: JSON.parse(String(row['data'])) as unknown,
    origin: String(row['origin']),
    hops: Number(row['hops']),
    sender: typeof row['sender'] === 'string' ? row['sender'] : null,
    createdAt: Number(row['created_at']),
    expiresAt: Number(row['expires_at']),
  };
}
