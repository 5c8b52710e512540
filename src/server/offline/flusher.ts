// The login-time side of offline delivery (docs/protocol.md §4.3.1): every delivery kept for a user
// is written to their first connection, oldest first, before anything else. A kept message leaves
// the queue only once its frame was written to that socket: a crash between the write and the
// removal delivers it once more at the next login; nothing acknowledged is lost.
import { encodeJsonFrame } from '../../protocol/frame.ts';
import type { OfflineEntry, OfflineEntryId } from '../storage/offline-queue.ts';
import type { FlushTarget, OfflineParts } from './offline-types.ts';
import type { UserLock } from './user-lock.ts';
import { WriteTracker } from './write-tracker.ts';

/** Messages read from the queue at a time during a flush. */
const PAGE_SIZE = 64;
/** Bytes written during a flush before it waits for them to reach the OS (far below the slow-consumer cut-off). */
const BATCH_BYTES = 1024 * 1024;

export class OfflineFlusher {
  readonly #o: OfflineParts;
  readonly #lock: UserLock;
  /** Told of each entry removed from the queue (the waiting count). */
  readonly #removed: () => void;
  readonly #closed: () => boolean;
  /** The flush running for each user: one at a time per user, whatever their number of connections. */
  readonly #flushing = new Map<string, Promise<void>>();

  constructor(parts: OfflineParts, lock: UserLock, hooks: { removed: () => void; closed: () => boolean }) {
    this.#o = parts;
    this.#lock = lock;
    this.#removed = hooks.removed;
    this.#closed = hooks.closed;
  }

  /** True while a flush to `user` runs (the sweeper leaves their messages alone meanwhile). */
  flushing(user: string): boolean {
    return this.#flushing.has(user);
  }

  /** Resolves once no flush runs for `user` (at once if none does). Never rejects. */
  idle(user: string): Promise<void> {
    return this.#flushing.get(user) ?? Promise.resolve();
  }

  /**
   * Writes every message kept for `user` to `target`, oldest first, removing each once written.
   * Exclusive per user: a second connection logging in meanwhile gets none (the first has them).
   * Runs under the user's lock, after any keep already putting a message for them (user-lock.ts).
   * Resolves when done or when the connection closed: true, or false when it did not run (a flush
   * for `user` was running, or closed); never rejects.
   */
  async flush(user: string, target: FlushTarget): Promise<boolean> {
    if (this.#flushing.has(user) || this.#closed()) return false;
    const run = this.#lock.run(user, () => this.#write(user, target)).then((sent) => {
      if (sent > 0) this.#o.logger.info({ user, sent }, 'kept messages delivered');
    });
    this.#flushing.set(user, run);
    try {
      await run;
    } finally {
      this.#flushing.delete(user);
    }
    return true;
  }

  /** Resolves to the number of messages written; never rejects. */
  async #write(user: string, target: FlushTarget): Promise<number> {
    const { queue, logger } = this.#o;
    const inFlight = new WriteTracker();
    const batchBytes = Math.max(1, Math.min(BATCH_BYTES, target.batchBytes ?? BATCH_BYTES));
    let sent = 0;
    try {
      let after: OfflineEntryId | null = null;
      for (;;) {
        const page = await queue.page(user, after, PAGE_SIZE);
        if (page.length === 0) break;
        let bytes = 0;
        for (const entry of page) {
          after = entry.id;
          if (entry.expiresAt <= Date.now()) continue; // the sweep removes it and tells the sender
          const frame = encodeJsonFrame(entry.frame);
          const done = inFlight.start();
          const ok = target.write(frame, (written) => {
            if (written) this.#remove(entry).then(done, done);
            else done();
          });
          if (!ok) {
            done();
            return sent; // the connection is gone: what was not written stays kept
          }
          sent++;
          bytes += frame.length;
          if (bytes >= batchBytes) {
            await inFlight.settled();
            bytes = 0;
          }
        }
        // The page reached the OS (and left the queue) before the next is read: bounded memory and backpressure.
        await inFlight.settled();
      }
    } catch (err) {
      if (!this.#closed()) logger.error({ err, user }, 'offline flush failed; the rest stays kept');
    } finally {
      // Let go only once every write settled and its removal landed: a second connection must not
      // read messages not yet removed.
      await inFlight.settled();
    }
    return sent;
  }

  /** Never rejects: a failed removal is logged, and the message is delivered once more at the next login. */
  async #remove(entry: OfflineEntry): Promise<void> {
    try {
      if (await this.#o.queue.remove(entry.id)) this.#removed();
    } catch (err) {
      if (this.#closed()) return; // shutting down: kept, delivered again at the next login (a duplicate, never a loss)
      this.#o.logger.error({ err, user: entry.user, id: entry.msgId }, 'could not remove a delivered offline message');
    }
  }
}
