// One chain of work per user: keeping a delivery for a user and flushing their kept deliveries
// never interleave (docs/protocol.md §4.3.1, "kept deliveries before live ones"). With an
// asynchronous queue, a login could otherwise slip between a keep's "not online" and its put
// landing, and the login's flush read the queue before it: that delivery would wait for the next
// login. Under the lock, the keep either lands before the flush reads, or runs after the flush and
// finds the user online (and then goes out live, behind the kept ones).

export class UserLock {
  /** The tail of each user's chain; deleted when the chain runs dry, so idle users cost nothing. */
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier `run` for `user` settled; resolves or rejects as `fn` does. */
  run<T>(user: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(user) ?? Promise.resolve();
    const result = previous.then(fn);
    const settled = (): void => {
      // Still the last link: nothing else is waiting for this user.
      if (this.#tails.get(user) === tail) this.#tails.delete(user);
    };
    const tail: Promise<void> = result.then(settled, settled);
    this.#tails.set(user, tail);
    return result;
  }

  /** True while some work for `user` is queued or running. */
  busy(user: string): boolean {
    return this.#tails.has(user);
  }
}
