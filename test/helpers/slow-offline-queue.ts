// An OfflineQueue whose put can be held back until the test lets it land: a login can then slip
// between a keep's "not online" check and its put (src/server/offline/user-lock.ts). Its page reads
// can be held too: a login's flush then lasts until the test lets it go on.
import type { NewOfflineEntry, OfflineEntry, OfflineEntryId, OfflineQueue, PutOptions } from '../../src/server/storage/offline-queue.ts';

export class SlowOfflineQueue implements OfflineQueue {
  readonly #inner: OfflineQueue;
  #gate: PromiseWithResolvers<void> | null = null;
  #started: PromiseWithResolvers<void> = Promise.withResolvers();
  #pages: PromiseWithResolvers<void> | null = null;

  constructor(inner: OfflineQueue) {
    this.#inner = inner;
  }

  /** From now on every put waits until release(). */
  hold(): void {
    this.#gate ??= Promise.withResolvers();
    this.#started = Promise.withResolvers();
  }

  /** Resolves once a held put has started (the keep found the user offline). */
  putStarted(): Promise<void> {
    return this.#started.promise;
  }

  /** From now on every page read (a login's flush) waits until release(). */
  holdPages(): void {
    this.#pages ??= Promise.withResolvers();
  }

  /** Lets the held puts and page reads go on; later ones go through at once. */
  release(): void {
    this.#gate?.resolve();
    this.#gate = null;
    this.#pages?.resolve();
    this.#pages = null;
  }

  async put(entry: NewOfflineEntry, options: PutOptions): Promise<OfflineEntry> {
    const gate = this.#gate;
    if (gate) {
      this.#started.resolve();
      await gate.promise;
    }
    return this.#inner.put(entry, options);
  }

  async page(user: string, after: OfflineEntryId | null, limit: number): Promise<OfflineEntry[]> {
    await this.#pages?.promise;
    return this.#inner.page(user, after, limit);
  }

  remove(id: OfflineEntryId): Promise<boolean> {
    return this.#inner.remove(id);
  }

  takeExpired(now: number, skip?: (user: string) => boolean): Promise<OfflineEntry[]> {
    return this.#inner.takeExpired(now, skip);
  }

  waiting(user?: string): Promise<number> {
    return this.#inner.waiting(user);
  }

  close(): Promise<void> {
    this.release();
    return this.#inner.close();
  }
}
