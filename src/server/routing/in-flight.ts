// Counting work in progress: a cap per handler on calls in flight (docs/protocol.md §7
// `overloaded`), and the count of every dispatch a stopping server waits for (shutdown.graceMs).
// Neither queues anything: a call over the cap is refused at once, so memory stays flat.

/** Calls in progress per handler type, each type with its own cap. */
export class HandlerGate {
  readonly #counts = new Map<string, number>();

  /** Takes a slot for `type`; false (and nothing taken) when `max` are already in use. */
  tryEnter(type: string, max: number): boolean {
    const count = this.#counts.get(type) ?? 0;
    if (count >= max) return false;
    this.#counts.set(type, count + 1);
    return true;
  }

  /** Gives back a slot taken by tryEnter. */
  leave(type: string): void {
    const count = (this.#counts.get(type) ?? 0) - 1;
    if (count > 0) this.#counts.set(type, count);
    else this.#counts.delete(type);
  }

  inFlight(type: string): number {
    return this.#counts.get(type) ?? 0;
  }
}

/**
 * Calls in progress per handler and, within each handler, per user (docs/protocol.md §4.1.1): one
 * user may hold at most `maxPerUser` of a handler's `max` slots, so that one user reaching the cap
 * does not refuse everyone else.
 */
export class FairHandlerGate {
  readonly #handlers = new HandlerGate();
  /** Per handler type, then per user key. */
  readonly #users = new Map<string, Map<string, number>>();

  /** Takes a slot: null when taken, else which cap refused it (nothing taken then). */
  tryEnter(type: string, max: number, user: string, maxPerUser: number): 'handler' | 'user' | null {
    let users = this.#users.get(type);
    const held = users?.get(user) ?? 0;
    if (held >= maxPerUser) return 'user';
    if (!this.#handlers.tryEnter(type, max)) return 'handler';
    if (users === undefined) {
      users = new Map();
      this.#users.set(type, users);
    }
    users.set(user, held + 1);
    return null;
  }

  /** Gives back a slot taken by tryEnter. */
  leave(type: string, user: string): void {
    this.#handlers.leave(type);
    const users = this.#users.get(type);
    if (users === undefined) return;
    const held = (users.get(user) ?? 0) - 1;
    if (held > 0) users.set(user, held);
    else users.delete(user);
  }

  inFlight(type: string): number {
    return this.#handlers.inFlight(type);
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
