// Durable offline delivery (docs/protocol.md §4.3.1): a sendClients recipient who has an account but
// no open connection gets the delivery kept in the SQLite file (storage/offline-store.ts), and
// written to their first connection at the next login, in order, before anything else. A kept
// message leaves the store only once its frame was written to that socket: a crash between the
// write and the removal delivers it once more at the next login; nothing acknowledged is lost.
// Past the TTL a periodic sweep removes it and tells the sender (a `bester.offline` delivery).
import { deliveryJson } from '../../protocol/builders.ts';
import { BesterError } from '../../protocol/errors.ts';
import { encodeJsonFrame } from '../../protocol/frame.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import type { AccountStore } from '../accounts/account-store.ts';
import type { OfflineConfig, ServerConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { SessionRegistry } from '../session/registry.ts';
import { OfflineStore, type OfflineEntry } from '../storage/offline-store.ts';
import { storePath } from '../storage/store-path.ts';

/** The delivery type a sender receives when a message kept for an offline user expired. */
export const OFFLINE_NOTICE_TYPE = 'bester.offline';

/** Messages read from the store at a time during a flush. */
const PAGE_SIZE = 64;
/** Bytes written during a flush before it waits for them to reach the OS (far below the slow-consumer cut-off). */
const BATCH_BYTES = 1024 * 1024;

/** Who sent the message being kept (for the expiry notice). */
export interface KeepContext {
  /** The type of the message the sender sent (the first of a sendHandler chain). */
  readonly type: string;
  readonly id: string | null;
  readonly sender: string | null;
  /** The server where it entered the federation; absent for a message from one of our clients. */
  readonly origin?: string;
}

/** What became of recipients who were not connected when the delivery was made. */
export interface KeepResult {
  /** Kept for their next login. */
  readonly stored: string[];
  /** Logged in while their account was looked up: delivered at once. */
  readonly delivered: string[];
  /** No such account: not kept (reported as undelivered, as before). */
  readonly unknown: string[];
  /** Over offline.maxPerUser: not kept. */
  readonly full: string[];
  /** The store failed (logged): not kept. */
  readonly failed: string[];
}

/** A just-logged-in connection, as the flush sees it. */
export interface FlushTarget {
  /**
   * Writes one frame ahead of anything held back for the connection. `written(true)` once it was
   * handed to the OS, `written(false)` if it never will be. Returns false (no callback) when closed.
   */
  write(frame: Buffer, written: (ok: boolean) => void): boolean;
  /** At most this many bytes are written before waiting for them (below the connection's outbound limit). */
  readonly batchBytes?: number;
}

export interface OfflineDeliveryOptions {
  readonly store: OfflineStore;
  readonly accounts: Pick<AccountStore, 'has'>;
  readonly config: OfflineConfig;
  readonly registry: SessionRegistry;
  readonly logger: Logger;
}

/** The daemon's offline delivery, on its SQLite file; null when config.offline.enabled is false. */
export function openOfflineDelivery(options: {
  config: ServerConfig;
  accounts: Pick<AccountStore, 'has'>;
  registry: SessionRegistry;
  logger: Logger;
}): OfflineDelivery | null {
  const { config } = options;
  if (!config.offline.enabled) return null;
  const store = new OfflineStore(storePath(config));
  const waiting = store.waiting();
  if (waiting > 0) options.logger.info({ waiting }, 'messages kept for offline users');
  return new OfflineDelivery({ ...options, store, config: config.offline });
}

export class OfflineDelivery {
  readonly #o: OfflineDeliveryOptions;
  /** Users a flush is running for: one at a time per user, whatever their number of connections. */
  readonly #flushing = new Set<string>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: OfflineDeliveryOptions) {
    this.#o = options;
    const every = Math.max(250, Math.min(60_000, Math.floor(options.config.ttlMs / 10)));
    this.#sweeper = setInterval(() => this.sweep(), every);
    this.#sweeper.unref();
  }

  /**
   * Keeps the delivery for each of `names` (not connected when it was made) that has an account.
   * Never waits on a socket; never rejects. `data`'s own text (the handler's) is kept as it is, as a
   * connected recipient gets it (docs/protocol.md §4.1).
   */
  async keep(names: readonly string[], type: string, data: JsonData, context: KeepContext): Promise<KeepResult> {
    const result: KeepResult = { stored: [], delivered: [], unknown: [], full: [], failed: [] };
    const known = await Promise.allSettled(names.map((name) => this.#o.accounts.has(name)));
    // From here on all is synchronous: a login cannot slip between the online check and the store.
    const { store, registry, config, logger } = this.#o;
    const text = deliveryJson(type, data);
    const now = Date.now();
    names.forEach((name, i) => {
      const lookup = known[i];
      if (lookup?.status !== 'fulfilled') {
        logger.error({ err: lookup?.reason as unknown, user: name }, 'account lookup failed; message not kept');
        result.failed.push(name);
        return;
      }
      if (!lookup.value) {
        result.unknown.push(name);
        return;
      }
      if (registry.isOnline(name)) {
        // Logged in meanwhile: their flush already read the store, so this goes out live (held behind it).
        const frame = encodeJsonFrame(text);
        let reached = false;
        for (const session of registry.connectionsOf(name)) reached = session.sendFrame(frame) || reached;
        if (reached) {
          result.delivered.push(name);
          return;
        }
      }
      try {
        const origin = context.origin ?? null;
        store.put(
          { user: name, frame: text, msgType: context.type, msgId: context.id, sender: context.sender, origin },
          { now, ttlMs: config.ttlMs, cap: config.maxPerUser },
        );
        result.stored.push(name);
      } catch (err) {
        if (err instanceof BesterError && err.code === 'recipient_queue_full') result.full.push(name);
        else {
          logger.error({ err, user: name }, 'could not keep a message for an offline user');
          result.failed.push(name);
        }
      }
    });
    if (result.stored.length > 0) logger.debug({ stored: result.stored, id: context.id }, 'kept for offline users');
    return result;
  }

  /**
   * Writes every message kept for `user` to `target`, oldest first, removing each once written.
   * Exclusive per user: a second connection logging in meanwhile gets none (the first has them).
   * Resolves when done or when the connection closed; never rejects.
   */
  async flush(user: string, target: FlushTarget): Promise<void> {
    const { store, logger } = this.#o;
    if (this.#flushing.has(user) || store.closed) return;
    this.#flushing.add(user);
    const inFlight = new WriteTracker();
    const batchBytes = Math.max(1, Math.min(BATCH_BYTES, target.batchBytes ?? BATCH_BYTES));
    let sent = 0;
    try {
      let afterId = 0;
      for (;;) {
        const page = store.page(user, afterId, PAGE_SIZE);
        if (page.length === 0) break;
        let bytes = 0;
        for (const entry of page) {
          afterId = entry.id;
          if (entry.expiresAt <= Date.now()) continue; // the sweep removes it and tells the sender
          const frame = encodeJsonFrame(entry.frame);
          const done = inFlight.start();
          const ok = target.write(frame, (written) => {
            if (written) this.#remove(entry);
            done();
          });
          if (!ok) {
            done();
            return; // the connection is gone: what was not written stays kept
          }
          sent++;
          bytes += frame.length;
          if (bytes >= batchBytes) {
            await inFlight.settled();
            bytes = 0;
          }
        }
        // The page reached the OS (and left the store) before the next is read: bounded memory and backpressure.
        await inFlight.settled();
      }
    } catch (err) {
      logger.error({ err, user }, 'offline flush failed; the rest stays kept');
    } finally {
      // Released only once every write settled: a second connection must not read rows not yet removed.
      await inFlight.settled();
      this.#flushing.delete(user);
      if (sent > 0) logger.info({ user, sent }, 'kept messages delivered');
    }
  }

  /** Removes messages past their TTL and tells each sender who is connected here. */
  sweep(): void {
    let expired: OfflineEntry[];
    try {
      expired = this.#o.store.takeExpired(Date.now(), (user) => this.#flushing.has(user));
    } catch (err) {
      if (!this.#o.store.closed) this.#o.logger.error({ err }, 'offline expiry failed');
      return;
    }
    for (const entry of expired) this.#tellExpired(entry);
  }

  /** Messages waiting, for everyone. */
  waiting(): number {
    return this.#o.store.closed ? 0 : this.#o.store.waiting();
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#o.store.close();
  }

  #remove(entry: OfflineEntry): void {
    try {
      this.#o.store.remove(entry.id);
    } catch (err) {
      // Kept: it will be delivered once more at the next login (a duplicate, never a loss).
      this.#o.logger.error({ err, user: entry.user, id: entry.msgId }, 'could not remove a delivered offline message');
    }
  }

  #tellExpired(entry: OfflineEntry): void {
    const { registry, logger } = this.#o;
    const log = { user: entry.user, sender: entry.sender, origin: entry.origin, id: entry.msgId, type: entry.msgType };
    // Only a sender on this server can be told; one on another server (a federated message) is logged.
    if (entry.origin === null && entry.sender !== null) {
      const notice = { event: 'expired', user: entry.user, id: entry.msgId, type: entry.msgType };
      const frame = encodeJsonFrame(deliveryJson(OFFLINE_NOTICE_TYPE, notice));
      let told = false;
      for (const session of registry.connectionsOf(entry.sender)) told = session.sendFrame(frame) || told;
      if (told) {
        logger.info(log, 'offline message expired; sender told');
        return;
      }
    }
    logger.warn(log, 'offline message expired; its sender is not connected here');
  }
}

/** Counts writes whose callback has not come yet; `settled()` resolves when there are none. */
class WriteTracker {
  #pending = 0;
  #waiters: Array<() => void> = [];

  start(): () => void {
    this.#pending++;
    let once = false;
    return () => {
      if (once) return;
      once = true;
      if (--this.#pending === 0) for (const wake of this.#waiters.splice(0)) wake();
    };
  }

  settled(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
