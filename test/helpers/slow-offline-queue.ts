// An OfflineQueue whose put can be held back until the test lets it land: a login can then slip
// between a keep's "not online" check and its put (src/server/offline/user-lock.ts). Its page reads
// can be held too: a login's flush then lasts until the test lets it go on. startSlowQueueDaemon runs
// a daemon on one.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { MemoryAccountStore } from '../../src/server/accounts/memory-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { silentLogger } from '../../src/server/log.ts';
import { startServer } from '../../src/server/server.ts';
import { MemoryOfflineQueue } from '../../src/server/storage/memory-offline-queue.ts';
import type { NewOfflineEntry, OfflineEntry, OfflineEntryId, OfflineQueue, PutOptions } from '../../src/server/storage/offline-queue.ts';
import { rawConfig, tempDir } from './daemon.ts';
import { loggedIn, type RawClient } from './raw-client.ts';

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

/** A daemon with memory accounts and a SlowOfflineQueue (memory underneath); its users log in with "<name>-pw". */
export interface SlowQueueDaemon {
  readonly queue: SlowOfflineQueue;
  /** Logs `user` in; asserts the answer is good. Closed by close(). */
  as(user: string): Promise<RawClient>;
  /** Closes the clients, the daemon and its stores, and removes its dir. */
  close(): Promise<void>;
}

export async function startSlowQueueDaemon(users: readonly string[]): Promise<SlowQueueDaemon> {
  const dir = tempDir();
  const { config } = parseConfig(rawConfig(dir, { handlers: { fake: {} } }), { baseDir: dir });
  const accounts = new MemoryAccountStore();
  for (const user of users) await accounts.add(user, `${user}-pw`);
  const queue = new SlowOfflineQueue(new MemoryOfflineQueue());
  const server = await startServer(config, { logger: silentLogger(), accounts, offlineQueue: queue });
  const port = server.listeners.find((l) => l.kind === 'tcp4')?.port ?? 0;
  const clients: RawClient[] = [];
  return {
    queue,
    async as(user) {
      const { client, answer } = await loggedIn({ port }, user, `${user}-pw`);
      assert.equal((answer as { header: Record<string, unknown> }).header['status'], 'good');
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients) c.close();
      await server.close();
      await queue.close();
      await accounts.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
