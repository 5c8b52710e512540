// §2.5: connections that have not logged in yet, on all listeners together, take at most
// limits.maxUnauthenticated slots, so that logged-in users keep theirs under a flood of idle
// connections. When a new connection needs a slot and none is free, the one that has waited
// longest without sending its login is closed to make room: a flood cannot keep a real login out,
// because a login that arrived (its password check waiting or running) is never the one evicted.

/** What the gate needs of a connection waiting for its login. */
export interface Evictable {
  /** Closes the connection, telling it why. */
  evict(): void;
}

export class PendingLogins<T extends Evictable = Evictable> {
  #max: number;
  /** Waiting for their login, oldest first; the value: the login arrived. */
  readonly #waiting = new Map<T, boolean>();

  constructor(max: number) {
    this.#max = max;
  }

  /**
   * A reload changed limits.maxUnauthenticated. A lower maximum evicts no one now: connections
   * past it close as they log in or time out, and new ones make room as usual.
   */
  resize(max: number): void {
    this.#max = max;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /**
   * Makes room for one more: true when there is room (after evicting the oldest connection that has
   * not sent its login, if needed), false when every slot holds a login in progress.
   */
  makeRoom(): boolean {
    if (this.#waiting.size < this.#max) return true;
    for (const [connection, loggingIn] of this.#waiting) {
      if (loggingIn) continue;
      this.#waiting.delete(connection);
      connection.evict();
      return true;
    }
    return false;
  }

  add(connection: T): void {
    this.#waiting.set(connection, false);
  }

  /** Its login arrived: it is not evicted any more. */
  loggingIn(connection: T): void {
    if (this.#waiting.has(connection)) this.#waiting.set(connection, true);
  }

  /** Logged in, taken over (peer link, legacy message) or closed. Idempotent. */
  remove(connection: T): void {
    this.#waiting.delete(connection);
  }
}
