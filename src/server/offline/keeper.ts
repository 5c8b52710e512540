// The deliverer's side of offline delivery (docs/protocol.md §4.3.1): a sendClients recipient who
// has an account but no open connection gets the delivery kept in the offline queue, for their next
// login. Each recipient's check-and-put runs under their user lock (user-lock.ts), so a login's flush
// cannot read the queue between the "not online" check and the put landing.
import { deliveryJson } from '../../protocol/builders.ts';
import { BesterError } from '../../protocol/errors.ts';
import { encodeJsonFrame } from '../../protocol/frame.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import type { KeepContext, KeepResult, OfflineParts } from './offline-types.ts';
import type { UserLock } from './user-lock.ts';

type Outcome = 'stored' | 'delivered' | 'unknown' | 'failed' | { readonly full: string };

export class OfflineKeeper {
  readonly #o: OfflineParts;
  readonly #lock: UserLock;
  /** Told of each entry put in the queue (the waiting count). */
  readonly #stored: () => void;

  constructor(parts: OfflineParts, lock: UserLock, stored: () => void) {
    this.#o = parts;
    this.#lock = lock;
    this.#stored = stored;
  }

  /**
   * Keeps the delivery for each of `names` (not connected when it was made) that has an account.
   * Never waits on a socket; never rejects. `data`'s own text (the handler's) is kept as it is, as a
   * connected recipient gets it (docs/protocol.md §4.1).
   */
  keep(names: readonly string[], type: string, data: JsonData, context: KeepContext): Promise<KeepResult> {
    return this.keepText(names, deliveryJson(type, data), context);
  }

  /** keep() for a delivery already serialised (`text`: builders.ts deliveryJson), e.g. one re-routed from a dead node. */
  async keepText(names: readonly string[], text: string, context: KeepContext): Promise<KeepResult> {
    const known = await Promise.allSettled(names.map((name) => this.#o.accounts.has(name)));
    const now = Date.now();
    const outcomes = await Promise.all(
      names.map((name, i): Promise<Outcome> => {
        const lookup = known[i];
        if (lookup?.status !== 'fulfilled') {
          this.#o.logger.error({ err: lookup?.reason as unknown, user: name }, 'account lookup failed; message not kept');
          return Promise.resolve('failed');
        }
        if (!lookup.value) return Promise.resolve('unknown');
        return this.#lock.run(name, () => this.#keepOne(name, text, context, now));
      }),
    );
    const result: KeepResult = { stored: [], delivered: [], unknown: [], full: [], failed: [], fullReasons: {} };
    names.forEach((name, i) => {
      const outcome = outcomes[i] ?? 'failed';
      if (typeof outcome === 'string') result[outcome].push(name);
      else {
        result.full.push(name);
        result.fullReasons![name] = outcome.full;
      }
    });
    if (result.stored.length > 0) this.#o.logger.debug({ stored: result.stored, id: context.id }, 'kept for offline users');
    return result;
  }

  /** Under `name`'s lock: live if they logged in meanwhile, else put in the queue. Never rejects. */
  async #keepOne(name: string, text: string, context: KeepContext, now: number): Promise<Outcome> {
    const { queue, registry, config, logger } = this.#o;
    // Logged in meanwhile: their flush has run or waits behind this lock, so this goes out live,
    // held behind the kept ones (§4.3.1).
    if (registry.isOnline(name) && registry.sendTo(name, encodeJsonFrame(text))) return 'delivered';
    try {
      const origin = context.origin ?? null;
      await queue.put(
        { user: name, frame: text, msgType: context.type, msgId: context.id, sender: context.sender, origin },
        { now, ttlMs: config.ttlMs, cap: config.maxPerUser, capBytes: config.maxBytesPerUser, totalCapBytes: config.maxBytes },
      );
      this.#stored();
      return 'stored';
    } catch (err) {
      if (err instanceof BesterError && err.code === 'recipient_queue_full') return { full: err.message };
      logger.error({ err, user: name }, 'could not keep a message for an offline user');
      return 'failed';
    }
  }
}
