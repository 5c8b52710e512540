// Acknowledgements that no publisher heard (delivery-bus.ts; docs/scaling.md "At a Sentinel
// failover"). A subscriber acknowledges a delivery with a PUBLISH on its publisher's reply channel;
// pub/sub keeps nothing, so if the publisher's reply connection is not subscribed at that moment
// (after a failover it subscribes again on the new master, and may be later than the subscriber)
// the acknowledgement is lost and the publisher counts a delivery that was made as failed. PUBLISH
// says how many received it: for 0, the acknowledgement is published again every 100 ms until
// someone receives it or the publisher has given up waiting (ackTimeoutMs). One timer per channel.
// Not for a Redis Cluster, where PUBLISH counts only the receivers connected to that master.
import type { Logger } from '../log.ts';

const RETRY_MS = 100;

interface Unheard {
  readonly message: string;
  readonly until: number;
}

export class UnheardReplies {
  readonly #publish: (channel: string, message: string) => Promise<number>;
  readonly #giveUpMs: number;
  readonly #logger: Logger;
  readonly #waiting = new Map<string, Unheard[]>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #closed = false;

  /** `publish` resolves to PUBLISH's count of receivers. */
  constructor(publish: (channel: string, message: string) => Promise<number>, giveUpMs: number, logger: Logger) {
    this.#publish = publish;
    this.#giveUpMs = giveUpMs;
    this.#logger = logger;
  }

  /** `message` was published on `channel` and nobody received it: publish it again soon. */
  add(channel: string, message: string): void {
    if (this.#closed) return;
    const list = this.#waiting.get(channel) ?? [];
    list.push({ message, until: Date.now() + this.#giveUpMs });
    this.#waiting.set(channel, list);
    this.#schedule(channel);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#waiting.clear();
  }

  #schedule(channel: string): void {
    if (this.#timers.has(channel) || this.#closed) return;
    const timer = setTimeout(() => {
      this.#retry(channel)
        .catch((err: unknown) => {
          if (!this.#closed) this.#logger.warn({ err, channel }, 'delivery bus: could not publish an acknowledgement again');
        })
        .finally(() => {
          this.#timers.delete(channel);
          if ((this.#waiting.get(channel)?.length ?? 0) > 0) this.#schedule(channel);
          else this.#waiting.delete(channel);
        });
    }, RETRY_MS);
    timer.unref();
    this.#timers.set(channel, timer);
  }

  /** Publishes the channel's unheard acknowledgements in order, stopping at the first nobody hears. */
  async #retry(channel: string): Promise<void> {
    const list = this.#waiting.get(channel) ?? [];
    const now = Date.now();
    const expired = list.filter((u) => u.until <= now).length;
    if (expired > 0) {
      list.splice(0, list.length, ...list.filter((u) => u.until > now));
      this.#logger.warn({ channel, acknowledgements: expired },
        'delivery bus: acknowledgements no publisher received within ackTimeoutMs (its reply connection was not subscribed); those publishers count the deliveries as failed');
    }
    while (list.length > 0 && !this.#closed) {
      if ((await this.#publish(channel, list[0]!.message)) === 0) return;
      list.shift();
    }
  }
}
