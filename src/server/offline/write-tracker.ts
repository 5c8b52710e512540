// Counts writes whose callback has not come yet; `settled()` resolves when there are none. A flush
// waits on it between batches (backpressure) and before it lets go of the user.

export class WriteTracker {
  #pending = 0;
  #waiters: Array<() => void> = [];

  /** One write started; call the returned function (once; more calls do nothing) when it settled. */
  start(): () => void {
    this.#pending++;
    let once = false;
    return () => {
      if (once) return;
      once = true;
      if (--this.#pending === 0) for (const wake of this.#waiters.splice(0)) wake();
    };
  }

  settled(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
