// The offline queue contract (docs/protocol.md §4.3.1): deliveries kept for users who have an
// account but no connection, until their next login or their TTL. SQLite now
// (sqlite-offline-queue.ts), memory (memory-offline-queue.ts), Redis (../redis/offline-queue.ts); every implementation
// passes test/contract/offline-queue.contract.ts. Nothing backend-specific belongs here: no SQL,
// every call asynchronous, ids given by the queue, TTL and caps passed in by the caller.

/** An entry's id: opaque, given by the queue; only the queue compares ids. */
import { BesterError } from '../../protocol/errors.ts';

export type OfflineEntryId = string | number;

export interface OfflineEntry {
  readonly id: OfflineEntryId;
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

export interface PutOptions {
  /** The time the entry is kept at (ms since the epoch): createdAt. */
  readonly now: number;
  /** expiresAt = now + ttlMs. */
  readonly ttlMs: number;
  /** The most entries one user may have waiting. */
  readonly cap: number;
  /** The most bytes (UTF-8 of the frames) one user may have waiting; unlimited when absent. */
  readonly capBytes?: number;
  /** The most bytes waiting for everyone together; unlimited when absent. */
  readonly totalCapBytes?: number;
}

/** The size an entry counts for in the byte caps: its frame's UTF-8 bytes. */
export function entryBytes(entry: Pick<OfflineEntry, 'frame'>): number {
  return Buffer.byteLength(entry.frame, 'utf8');
}

/** The refusal of a put over a cap (recipient_queue_full, docs/protocol.md §4.3.1.1), or null. */
export function overCap(
  user: string,
  waiting: { readonly count: number; readonly bytes: number; readonly totalBytes: number },
  size: number,
  options: PutOptions,
): BesterError | null {
  if (waiting.count >= options.cap) {
    return new BesterError('recipient_queue_full', `${waiting.count} messages are already waiting for "${user}" (the limit)`);
  }
  if (options.capBytes !== undefined && waiting.bytes + size > options.capBytes) {
    return new BesterError('recipient_queue_full', `${waiting.bytes} bytes are already waiting for "${user}"; this message (${size} bytes) would pass the limit of ${options.capBytes}`);
  }
  if (options.totalCapBytes !== undefined && waiting.totalBytes + size > options.totalCapBytes) {
    return new BesterError('recipient_queue_full', `the server keeps at most ${options.totalCapBytes} bytes for users who are offline, and is full`);
  }
  return null;
}

/** Most entries one takeExpired call returns; call again for the rest. */
export const MAX_EXPIRED_PER_CALL = 1000;

export interface OfflineQueue {
  /**
   * Appends a delivery for `entry.user`, after every entry kept for that user before; durable (as
   * the backend is) when it resolves, with the id the queue gave it. Rejects with
   * BesterError('recipient_queue_full') when the user already has `options.cap` entries waiting
   * (checked and appended atomically: concurrent puts never exceed the cap).
   */
  put(entry: NewOfflineEntry, options: PutOptions): Promise<OfflineEntry>;
  /**
   * At most `limit` entries of `user`, in put order, starting after the entry with id `after`
   * (null: from the oldest). Expired entries not yet taken are included (the caller skips them).
   */
  page(user: string, after: OfflineEntryId | null, limit: number): Promise<OfflineEntry[]>;
  /** The entry was delivered: it leaves the queue. Resolves false if it was already gone. */
  remove(id: OfflineEntryId): Promise<boolean>;
  /**
   * Removes and returns entries whose expiresAt <= now (at most MAX_EXPIRED_PER_CALL per call, oldest
   * first), except those of users `skip` names (a flush to them is running). Each entry is returned
   * by one call only, even to concurrent callers.
   */
  takeExpired(now: number, skip?: (user: string) => boolean): Promise<OfflineEntry[]>;
  /** Entries waiting for one user, or for everyone. */
  waiting(user?: string): Promise<number>;
  /** Idempotent. Any other call after close rejects with BesterError('store_error'). */
  close(): Promise<void>;
}
