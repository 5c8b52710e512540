// What every Redis store shares: its client (its own, closed with it, or one lent by the caller),
// the key layout, and the error rules of store-error.ts (store_error for a Redis failure or a use
// after close; a BesterError such as recipient_queue_full passes through).
import { setTimeout as sleep } from 'node:timers/promises';
import { closedError, storeError } from '../storage/store-error.ts';
import type { RedisClient } from './client.ts';
import { RedisKeys } from './keys.ts';

export interface RedisStoreOptions {
  readonly client: RedisClient;
  readonly prefix: string;
  /** Close the client with the store (true when the store opened it). */
  readonly ownsClient?: boolean;
}

export class RedisStoreBase {
  protected readonly client: RedisClient;
  protected readonly keys: RedisKeys;
  readonly #owns: boolean;
  readonly #what: string;
  #closed = false;

  constructor(what: string, options: RedisStoreOptions) {
    this.#what = what;
    this.client = options.client;
    this.keys = new RedisKeys(options.prefix);
    this.#owns = options.ownsClient ?? false;
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  /** Runs one Redis step: use after close and Redis failures become store_error rejections. */
  protected async run<T>(what: string, step: () => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError(this.#what);
    try {
      return await step();
    } catch (err) {
      throw storeError(`${this.#what}: cannot ${what}`, err);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owns) await closeClient(this.client);
  }
}

/** How long an orderly close waits for the commands already sent before dropping the connection. */
export const CLOSE_WAIT_MS = 2000;

/**
 * Closes `client` in bounded time (docs/scaling.md "Self-fencing": a daemon stopped while cut off
 * from Redis must still stop). Connected: waits for the commands already sent, at most
 * CLOSE_WAIT_MS. Not connected: close() would wait for Redis to come back, so the connection is
 * destroyed at once (commands still queued are rejected: nothing acknowledged depends on them).
 */
export async function closeClient(client: RedisClient, waitMs = CLOSE_WAIT_MS): Promise<void> {
  if (!client.isOpen) return;
  if (!client.isReady) {
    client.destroy();
    return;
  }
  const closed = client.close().then(() => 'closed' as const, () => 'closed' as const);
  if ((await Promise.race([closed, sleep(waitMs, 'late' as const, { ref: false })])) === 'late' && client.isOpen) client.destroy();
}

/** A Lua array reply as strings. */
export function strings(reply: unknown): string[] {
  return Array.isArray(reply) ? reply.map(String) : [];
}
