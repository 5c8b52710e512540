// The TTL side of offline delivery (docs/protocol.md §4.3.1): past offline.ttlMs a kept message is
// removed by a periodic sweep and its sender, if connected here, is told (a `bester.offline` delivery).
import { deliveryJson } from '../../protocol/builders.ts';
import { encodeJsonFrame } from '../../protocol/frame.ts';
import type { OfflineEntry } from '../storage/offline-queue.ts';
import { OFFLINE_NOTICE_TYPE, type OfflineParts } from './offline-types.ts';

export interface SweeperHooks {
  /** Users whose messages are left alone this time (a flush to them is running). */
  readonly skip: (user: string) => boolean;
  /** The count of messages waiting, read from the queue after each sweep. */
  readonly counted: (waiting: number) => void;
  readonly closed: () => boolean;
}

export class ExpirySweeper {
  readonly #o: OfflineParts;
  readonly #hooks: SweeperHooks;
  readonly #timer: NodeJS.Timeout;
  /** The sweep running now, if any: sweeps never overlap. */
  #running: Promise<void> | null = null;

  constructor(parts: OfflineParts, hooks: SweeperHooks) {
    this.#o = parts;
    this.#hooks = hooks;
    const every = Math.max(250, Math.min(60_000, Math.floor(parts.config.ttlMs / 10)));
    this.#timer = setInterval(() => {
      this.sweep().then(undefined, () => undefined); // sweep never rejects
    }, every);
    this.#timer.unref();
  }

  /** Removes messages past their TTL and tells each sender who is connected here. Never rejects. */
  sweep(): Promise<void> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #sweep(): Promise<void> {
    const { queue, logger } = this.#o;
    try {
      const expired = await queue.takeExpired(Date.now(), this.#hooks.skip);
      for (const entry of expired) this.#tellExpired(entry);
      if (expired.length > 0) this.#o.events?.emit('delivery.expired', { count: expired.length });
      this.#hooks.counted(await queue.waiting());
    } catch (err) {
      if (!this.#hooks.closed()) logger.error({ err }, 'offline expiry failed');
    }
  }

  #tellExpired(entry: OfflineEntry): void {
    const { registry, logger } = this.#o;
    const log = { user: entry.user, sender: entry.sender, origin: entry.origin, id: entry.msgId, type: entry.msgType };
    // Only a sender on this server can be told; one on another server (a federated message) is logged.
    if (entry.origin === null && entry.sender !== null) {
      const notice = { event: 'expired', user: entry.user, id: entry.msgId, type: entry.msgType };
      if (registry.sendTo(entry.sender, encodeJsonFrame(deliveryJson(OFFLINE_NOTICE_TYPE, notice)))) {
        logger.info(log, 'offline message expired; sender told');
        return;
      }
    }
    logger.warn(log, 'offline message expired; its sender is not connected here');
  }
}
