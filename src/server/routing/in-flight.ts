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
