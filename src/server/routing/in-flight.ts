// Counting work in progress: a cap per handler, and per user within it, on calls in flight (docs/protocol.md §7
// `overloaded`), and the count of every dispatch a stopping server waits for (shutdown.graceMs).
// Neither queues anything: a call over the cap is refused at once, so memory stays flat.

/** One handler's calls in progress, in all and per user key. */
interface HandlerCount {
  count: number;
  readonly users: Map<string, number>;
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

  /** Takes a slot: null when taken, else which cap refused it (nothing taken then). */
  tryEnter(type: string, max: number, user: string, maxPerUser: number): 'handler' | 'user' | null {
    let handler = this.#handlers.get(type);
    if (handler === undefined) {
      handler = { count: 0, users: new Map() };
      this.#handlers.set(type, handler);
    }
    const held = handler.users.get(user) ?? 0;
    if (held >= maxPerUser) return 'user';
    if (handler.count >= max) return 'handler';
    handler.count++;
    handler.users.set(user, held + 1);
    return null;
  }

  /** Gives back a slot taken by tryEnter. */
  leave(type: string, user: string): void {
    const handler = this.#handlers.get(type);
    if (handler === undefined) return;
    handler.count--;
    const held = (handler.users.get(user) ?? 1) - 1;
    if (held > 0 || handler.users.size <= KEPT_IDLE_USERS) handler.users.set(user, held);
    else handler.users.delete(user);
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
