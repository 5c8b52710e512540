// The offline queue (offline-queue.ts) in memory: for tests and embedders that want no file, and
// the reference for what a backend must do. Nothing survives the process.
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
import { closedError } from './store-error.ts';

export class MemoryOfflineQueue implements OfflineQueue {
  /** Every entry by id; ids increase, and a Map iterates in insertion order: oldest first. */
  readonly #byId = new Map<number, OfflineEntry>();
  /** Each user's entries, oldest first. */
  readonly #byUser = new Map<string, OfflineEntry[]>();
  #nextId = 1;
  #closed = false;
  /** Bytes waiting, for everyone and per user (offline-queue.ts entryBytes). */
  #totalBytes = 0;
  readonly #bytesByUser = new Map<string, number>();

  #rejectClosed<T>(): Promise<T> {
    return Promise.reject(closedError('memory offline queue'));
  }

  put(entry: NewOfflineEntry, options: PutOptions): Promise<OfflineEntry> {
    if (this.#closed) return this.#rejectClosed();
    const list = this.#byUser.get(entry.user) ?? [];
    const size = entryBytes(entry);
    const bytes = this.#bytesByUser.get(entry.user) ?? 0;
    const refusal = overCap(entry.user, { count: list.length, bytes, totalBytes: this.#totalBytes }, size, options);
    if (refusal !== null) return Promise.reject(refusal);
    this.#bytesByUser.set(entry.user, bytes + size);
    this.#totalBytes += size;
    const kept: OfflineEntry = { ...entry, id: this.#nextId++, createdAt: options.now, expiresAt: options.now + options.ttlMs };
    list.push(kept);
    this.#byUser.set(entry.user, list);
    this.#byId.set(kept.id as number, kept);
    return Promise.resolve(kept);
  }

  page(user: string, after: OfflineEntryId | null, limit: number): Promise<OfflineEntry[]> {
    if (this.#closed) return this.#rejectClosed();
    const from = after === null ? 0 : Number(after);
    const list = this.#byUser.get(user) ?? [];
    // Ids increase along the list: the first one after `from` by binary search.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((list[mid]!.id as number) <= from) lo = mid + 1;
      else hi = mid;
    }
    return Promise.resolve(list.slice(lo, lo + Math.max(0, limit)));
  }

  remove(id: OfflineEntryId): Promise<boolean> {
    if (this.#closed) return this.#rejectClosed();
    return Promise.resolve(this.#delete(Number(id)));
  }

  takeExpired(now: number, skip: (user: string) => boolean = () => false): Promise<OfflineEntry[]> {
    if (this.#closed) return this.#rejectClosed();
    const taken: OfflineEntry[] = [];
    for (const entry of this.#byId.values()) {
      if (taken.length >= MAX_EXPIRED_PER_CALL) break;
      if (entry.expiresAt <= now && !skip(entry.user)) taken.push(entry);
    }
    for (const entry of taken) this.#delete(entry.id as number);
    return Promise.resolve(taken);
  }

  waiting(user?: string): Promise<number> {
    if (this.#closed) return this.#rejectClosed();
    return Promise.resolve(user === undefined ? this.#byId.size : (this.#byUser.get(user)?.length ?? 0));
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#byId.clear();
    this.#byUser.clear();
    this.#bytesByUser.clear();
    this.#totalBytes = 0;
    return Promise.resolve();
  }

  #delete(id: number): boolean {
    const entry = this.#byId.get(id);
    if (!entry) return false;
    this.#byId.delete(id);
    const list = this.#byUser.get(entry.user) ?? [];
    const at = list.indexOf(entry);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.#byUser.delete(entry.user);
    const size = entryBytes(entry);
    this.#totalBytes -= size;
    const left = (this.#bytesByUser.get(entry.user) ?? 0) - size;
    if (left > 0) this.#bytesByUser.set(entry.user, left);
    else this.#bytesByUser.delete(entry.user);
    return true;
  }
}
