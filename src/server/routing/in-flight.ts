// Counting work in progress: a cap per handler, and per user within it, on calls in flight (docs/protocol.md §7
// `overloaded`), and the count of every dispatch a stopping server waits for (shutdown.graceMs).
// Neither queues anything: a call over the cap is refused at once, so memory stays flat.

/** One handler's calls in progress, in all and per user key. */
interface HandlerCount {
  count: number;
  readonly users: Map<string, GateSlot>;
}

/**
 * One user's calls in progress to one handler, changed in place; it is also the slot tryEnter gives
 * out (leave() looks nothing up, and taking a slot allocates nothing once the user has an entry).
 */
export interface GateSlot {
  readonly handler: HandlerCount;
  readonly user: string;
  held: number;
}

/**
 * Users whose count fell to 0 keep their entry while a handler has at most this many: a user
 * sending steadily does not have an entry made and dropped with every call (a measurable share of
 * the message path), and the entries at 0 stay bounded however many users come and go.
 */
const KEPT_IDLE_USERS = 256;

/**
 * Calls in progress per handler and, within each handler, per user (docs/protocol.md §4.1.1): one
 * user may hold at most `maxPerUser` of a handler's `max` slots, so that one user reaching the cap
 * does not refuse everyone else. Nothing is queued: a call over a cap is refused at once.
 */
export class FairHandlerGate {
  /** Per handler type (the configured types: never dropped). */
  readonly #handlers = new Map<string, HandlerCount>();

  /** Takes a slot, to be given back with leave(); else which cap refused it (nothing taken then). */
  tryEnter(type: string, max: number, user: string, maxPerUser: number): GateSlot | 'handler' | 'user' {
    let handler = this.#handlers.get(type);
    if (handler === undefined) {
      handler = { count: 0, users: new Map() };
      this.#handlers.set(type, handler);
    }
    let slot = handler.users.get(user);
    if (slot !== undefined && slot.held >= maxPerUser) return 'user';
    if (handler.count >= max) return 'handler';
    if (slot === undefined) {
      slot = { handler, user, held: 0 };
      handler.users.set(user, slot);
    }
    handler.count++;
    slot.held++;
    return slot;
  }

  /** Gives back a slot taken by tryEnter (once for each time it was taken). */
  leave(slot: GateSlot): void {
    const { handler } = slot;
    handler.count--;
    // At 0 nobody holds the slot any more: the entry may go (tryEnter makes a new one).
    if (--slot.held === 0 && handler.users.size > KEPT_IDLE_USERS) handler.users.delete(slot.user);
  }

  /** Calls to the handler for `type` in progress now. */
  inFlight(type: string): number {
    return this.#handlers.get(type)?.count ?? 0;
  }
}

/** A count of tasks in progress that can be waited on until it reaches zero. */
export class ActivityCounter {
  #active = 0;
  #waiters: Array<() => void> = [];

  get active(): number {
    return this.#active;
  }

  enter(): void {
    this.#active++;
  }

  leave(): void {
    this.#active--;
    if (this.#active > 0) return;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Resolves true once nothing is in progress, or false after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.#active === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(wake);
    });
  }
}
