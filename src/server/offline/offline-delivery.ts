// Durable offline delivery (docs/protocol.md §4.3.1), assembled from its three roles on one
// asynchronous OfflineQueue: the keeper (the deliverer's side, keeper.ts), the login-time flush
// (flusher.ts) and the TTL sweeper (expiry-sweeper.ts). Keeps and flushes of one user are
// serialised by a UserLock (user-lock.ts): kept deliveries always go out before live ones.
import type { JsonData } from '../../protocol/json-text.ts';
import type { AccountStore } from '../accounts/account-store.ts';
import type { ServerConfig } from '../config/types.ts';
import type { ServerEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { OfflineQueue } from '../storage/offline-queue.ts';
import { openOfflineQueue } from '../redis/store-choice.ts';
import { ExpirySweeper } from './expiry-sweeper.ts';
import { OfflineFlusher } from './flusher.ts';
import { OfflineKeeper } from './keeper.ts';
import type { FlushTarget, KeepContext, KeepResult, OfflineParts } from './offline-types.ts';
import { UserLock } from './user-lock.ts';

export { OFFLINE_NOTICE_TYPE, type FlushTarget, type KeepContext, type KeepResult } from './offline-types.ts';

/**
 * The daemon's offline delivery; null when config.offline.enabled is false. On the queue given
 * (tests, embedders: not closed by close()), else on the config's (redis/store-choice.ts).
 */
export async function openOfflineDelivery(options: {
  config: ServerConfig;
  accounts: Pick<AccountStore, 'has'>;
  registry: SessionRegistry;
  logger: Logger;
  queue?: OfflineQueue;
  events?: ServerEvents;
}): Promise<OfflineDelivery | null> {
  const { config } = options;
  if (!config.offline.enabled) return null;
  const queue = options.queue ?? (await openOfflineQueue(config, options.logger));
  let waiting: number;
  try {
    waiting = await queue.waiting();
  } catch (err) {
    if (!options.queue) await queue.close();
    throw err;
  }
  if (waiting > 0) options.logger.info({ waiting }, 'messages kept for offline users');
  return new OfflineDelivery({ ...options, queue, config: config.offline }, { waiting, ownsQueue: !options.queue });
}

export class OfflineDelivery {
  readonly #queue: OfflineQueue;
  readonly #ownsQueue: boolean;
  readonly #keeper: OfflineKeeper;
  readonly #flusher: OfflineFlusher;
  readonly #sweeper: ExpirySweeper;
  readonly #logger: Logger;
  /** Told of the users a delivery was kept for (a cluster's kept notice, presence/kept-notice.ts). */
  readonly #keptListeners: Array<(users: readonly string[]) => void> = [];
  /** Messages waiting: read from the queue at start and after each sweep, counted in between. */
  #waiting: number;
  #closed = false;

  constructor(parts: OfflineParts, options: { waiting?: number; ownsQueue?: boolean } = {}) {
    this.#queue = parts.queue;
    this.#ownsQueue = options.ownsQueue ?? true;
    this.#waiting = options.waiting ?? 0;
    this.#logger = parts.logger;
    const lock = new UserLock();
    const closed = (): boolean => this.#closed;
    this.#keeper = new OfflineKeeper(parts, lock, () => this.#waiting++);
    this.#flusher = new OfflineFlusher(parts, lock, { removed: () => (this.#waiting = Math.max(0, this.#waiting - 1)), closed });
    this.#sweeper = new ExpirySweeper(parts, {
      skip: (user) => this.#flusher.flushing(user),
      counted: (waiting) => (this.#waiting = waiting),
      closed,
    });
  }

  /** keeper.ts: keeps the delivery for each of `names` that has an account. Never rejects. */
  keep(names: readonly string[], type: string, data: JsonData, context: KeepContext): Promise<KeepResult> {
    return this.#keeper.keep(names, type, data, context).then((kept) => this.#told(kept));
  }

  /** keeper.ts: keep() for a delivery's JSON text already made (a delivery re-routed from a dead node). Never rejects. */
  keepText(names: readonly string[], text: string, context: KeepContext): Promise<KeepResult> {
    return this.#keeper.keepText(names, text, context).then((kept) => this.#told(kept));
  }

  /** `listener` is told, after each keep, the users it was kept for (not called when none was). */
  onKept(listener: (users: readonly string[]) => void): void {
    this.#keptListeners.push(listener);
  }

  /**
   * flusher.ts: writes what was kept for `user` to their new connection (or to the connections a
   * catch-up holds, catch-up.ts), oldest first. False when it did not run (a flush for `user` was
   * running). Never rejects.
   */
  flush(user: string, target: FlushTarget): Promise<boolean> {
    return this.#flusher.flush(user, target);
  }

  /** flusher.ts: resolves once no flush runs for `user`. Never rejects. */
  idle(user: string): Promise<void> {
    return this.#flusher.idle(user);
  }

  /** expiry-sweeper.ts: removes what is past its TTL now (it also runs periodically). Never rejects. */
  sweep(): Promise<void> {
    return this.#sweeper.sweep();
  }

  /** Messages waiting, for everyone (as of the last sweep, plus what this daemon kept and delivered since). */
  waiting(): number {
    return this.#closed ? 0 : this.#waiting;
  }

  /** Asks the queue itself how many are waiting: does the store answer? (GET /readyz, admin/readiness.ts) */
  queueWaiting(): Promise<number> {
    return this.#queue.waiting();
  }

  #told(kept: KeepResult): KeepResult {
    if (kept.stored.length > 0) {
      for (const listener of this.#keptListeners) {
        try {
          listener(kept.stored);
        } catch (err) {
          this.#logger.error({ err }, 'a kept-delivery listener failed');
        }
      }
    }
    return kept;
  }

  /** Idempotent. Closes the queue if this opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sweeper.stop();
    if (this.#ownsQueue) await this.#queue.close();
  }
}
