// The kept notice (presence/kept-notice.ts) on Redis pub/sub: PUBLISH on the shared connection,
// SUBSCRIBE on a connection of its own (node-redis subscribes again after a reconnect). A message is
// JSON {"node", "users"}; a node ignores its own. A notice Redis does not take is tried again every
// `retryMs`, at most `retries` times, then given up (logged): the user gets it at the next login.
import type { KeptNotice } from '../presence/kept-notice.ts';
import { silentLogger, type Logger } from '../log.ts';
import { within } from '../within.ts';
import type { RedisClient } from './client.ts';
import { RedisKeys } from './keys.ts';

export interface RedisKeptNoticeOptions {
  /** The shared connection PUBLISH goes on (not closed here); the subscription duplicates it. */
  readonly client: RedisClient;
  readonly prefix: string;
  readonly nodeId: string;
  readonly logger?: Logger;
  /** Tries of one notice (default 20), `retryMs` apart (default 500). */
  readonly retries?: number;
  readonly retryMs?: number;
}

export class RedisKeptNotice implements KeptNotice {
  readonly #o: Required<Omit<RedisKeptNoticeOptions, 'client' | 'prefix'>> & { client: RedisClient };
  readonly #channel: string;
  readonly #listeners: Array<(users: readonly string[]) => void> = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #subscriber: RedisClient | null = null;
  #closed = false;

  private constructor(options: RedisKeptNoticeOptions) {
    this.#o = { client: options.client, nodeId: options.nodeId, logger: options.logger ?? silentLogger(), retries: options.retries ?? 20, retryMs: options.retryMs ?? 500 };
    this.#channel = new RedisKeys(options.prefix).keptNotice();
  }

  /** Subscribed (its own connection) before it resolves. */
  static async open(options: RedisKeptNoticeOptions): Promise<RedisKeptNotice> {
    const notice = new RedisKeptNotice(options);
    const sub = options.client.duplicate();
    sub.on('error', (err: unknown) => notice.#o.logger.debug({ err }, 'kept notice: subscription connection lost, reconnecting'));
    await sub.connect();
    try {
      await sub.subscribe(notice.#channel, (message) => notice.#heard(message));
    } catch (err) {
      sub.destroy();
      throw err;
    }
    notice.#subscriber = sub;
    return notice;
  }

  send(users: readonly string[]): void {
    if (this.#closed || users.length === 0) return;
    this.#try(JSON.stringify({ node: this.#o.nodeId, users }), 1);
  }

  onKept(listener: (users: readonly string[]) => void): void {
    this.#listeners.push(listener);
  }

  ready(): boolean {
    return this.#subscriber?.isReady ?? false;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#subscriber?.destroy();
    this.#subscriber = null;
    return Promise.resolve();
  }

  /** One try; never rejects. Not sent while the connection is down (queued commands would pile up). */
  #try(message: string, attempt: number): void {
    if (this.#closed) return;
    const again = (err: unknown): void => {
      if (this.#closed) return;
      if (attempt >= this.#o.retries) {
        this.#o.logger.warn({ err, message, tries: attempt }, 'kept notice: given up; the users connected elsewhere get those deliveries at their next login');
        return;
      }
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#try(message, attempt + 1);
      }, this.#o.retryMs);
      this.#timers.add(timer);
    };
    const { client } = this.#o;
    if (!client.isReady) {
      again(new Error('the connection to Redis is down'));
      return;
    }
    const { retryMs } = this.#o;
    within(client.publish(this.#channel, message), retryMs, () => new Error(`Redis did not answer within ${retryMs} ms`)).catch(again);
  }

  #heard(message: string): void {
    let users: string[];
    try {
      const parsed = JSON.parse(message) as { node?: unknown; users?: unknown };
      if (parsed.node === this.#o.nodeId || !Array.isArray(parsed.users)) return;
      users = parsed.users.filter((u): u is string => typeof u === 'string');
    } catch {
      return;
    }
    for (const listener of this.#listeners) {
      try {
        listener(users);
      } catch (err) {
        this.#o.logger.error({ err }, 'kept notice: a listener failed');
      }
    }
  }
}
