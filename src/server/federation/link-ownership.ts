// Which node of a cluster sends to each peer (docs/scaling.md "Federation from a cluster"): one
// node at a time holds a lease on a peer's outbound link, renewed every third of its length. The
// holder runs the link; the other nodes only queue into the shared outbox and announce it. A
// holder that cannot renew in time stops sending (it fences itself) before the lease can pass to
// another node; a node that dies stops renewing, and another takes the lease when it runs out.
// Without a lease (a daemon alone, or not on Redis) the federation owns every link.
import type { Logger } from '../log.ts';
import { within } from '../within.ts';

/** The shared lease store (redis/link-lease.ts). */
export interface LinkLease {
  /**
   * Takes `peer`'s lease for this node, or renews it when `token` is the fencing token held:
   * resolves with the token held now (a new one when the lease was taken afresh), or null when
   * another node holds it.
   */
  hold(peer: string, token: number | null): Promise<number | null>;
  /** Gives the lease up, if `token` still holds it. */
  release(peer: string, token: number): Promise<void>;
  /** Tells the holder of `peer`'s lease that a message was queued for it (best effort). */
  announce(peer: string): Promise<void>;
  /** Calls `kick(peer)` when a node announced a message for `peer`. */
  listen(kick: (peer: string) => void): Promise<void>;
  close(): Promise<void>;
}

export interface LinkOwnershipOptions {
  readonly lease: LinkLease;
  readonly leaseMs: number;
  /** The peers whose links may be wanted now (configured with an address, or with messages waiting). */
  readonly peers: () => Iterable<string>;
  /** This node gained (true) or lost (false) `peer`'s link. */
  readonly changed: (peer: string, owned: boolean) => void;
  /** After each round: the node may look for messages waiting for the peers it owns. */
  readonly afterRound?: () => void;
  readonly logger: Logger;
}

export class LinkOwnership {
  readonly #o: LinkOwnershipOptions;
  /** Peer -> the fencing token held and when it was last renewed. */
  readonly #held = new Map<string, { token: number; renewedAt: number }>();
  readonly #timer: NodeJS.Timeout;
  #round: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: LinkOwnershipOptions) {
    this.#o = options;
    this.#timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(options.leaseMs / 3)));
    this.#timer.unref();
  }

  owns(peer: string): boolean {
    return this.#held.has(peer);
  }

  /** The fencing token held for `peer` (status, tests), or null. */
  tokenOf(peer: string): number | null {
    return this.#held.get(peer)?.token ?? null;
  }

  /** Tells the holder of the peer's link that a message waits (this node does not hold it). */
  announce(peer: string): void {
    this.#o.lease.announce(peer).catch((err: unknown) => this.#o.logger.warn({ err, peer }, 'could not announce a queued message'));
  }

  /** One round of takes and renewals, after the one in progress; never rejects. */
  tick(): Promise<void> {
    this.#round = this.#round.then(() => this.#roundOnce());
    return this.#round;
  }

  async #roundOnce(): Promise<void> {
    if (this.#closed) return;
    const wanted = new Set([...this.#o.peers(), ...this.#held.keys()]);
    for (const peer of wanted) {
      const held = this.#held.get(peer);
      const started = Date.now();
      let token: number | null;
      try {
        // A Redis that does not answer must not hold a renewal up.
        const ms = Math.max(50, Math.floor(this.#o.leaseMs / 3));
        token = await within(this.#o.lease.hold(peer, held?.token ?? null), ms, () => new Error(`no answer within ${ms} ms`));
      } catch (err) {
        // Cut off from Redis: keep sending only while the lease surely still runs (self-fencing).
        if (held && started - held.renewedAt > this.#o.leaseMs * 0.6) {
          this.#o.logger.warn({ err, peer }, 'cannot renew the lease on the peer link; stopping it (another node may take it)');
          this.#lose(peer);
        }
        continue;
      }
      if (this.#closed) return;
      if (token === null) {
        if (held) this.#lose(peer);
      } else if (held && held.token === token) {
        held.renewedAt = started;
      } else {
        if (held) this.#lose(peer); // the lease ran out and was taken again: a new link under the new token
        this.#held.set(peer, { token, renewedAt: started });
        this.#o.logger.info({ peer, token }, 'this node now sends to the peer (lease taken)');
        this.#o.changed(peer, true);
      }
    }
    this.#o.afterRound?.();
  }

  #lose(peer: string): void {
    this.#held.delete(peer);
    this.#o.logger.info({ peer }, 'this node no longer sends to the peer (lease lost)');
    this.#o.changed(peer, false);
  }

  /** Stops renewing and gives every lease up, so another node takes the links at once. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#round;
    const held = [...this.#held];
    this.#held.clear();
    await Promise.all(held.map(([peer, { token }]) => this.#o.lease.release(peer, token).catch(() => undefined)));
  }
}
