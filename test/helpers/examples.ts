// Shared by the examples' integration tests: run examples/handlers/* as the daemon would (the
// script itself, found through its #! line) behind a test daemon, and log users in.
import assert from 'node:assert/strict';
import path from 'node:path';
import { connect, type BesterClient, type Delivery } from '../../src/sdk/client.ts';
import { ROOT, type HandlerSpec, type TestDaemon } from './daemon.ts';
import { loggedIn, type RawClient } from './raw-client.ts';

export const EXAMPLE_HANDLERS = path.join(ROOT, 'examples/handlers');

/** A handler spec that starts examples/handlers/<file> itself, as examples/server.conf does. */
export function exampleHandler(file: string, extra: Omit<HandlerSpec, 'binary' | 'args' | 'kind'> = {}): HandlerSpec {
  return { binary: path.join(EXAMPLE_HANDLERS, file), ...extra };
}

export interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** A logged-in raw client for `user` (password `<user>-pw`, as startTestDaemon creates them), closed by `closeAll`. */
export class Users {
  readonly #clients: RawClient[] = [];
  readonly #daemon: () => TestDaemon;

  constructor(daemon: () => TestDaemon) {
    this.#daemon = daemon;
  }

  async login(user: string): Promise<RawClient> {
    const { client, answer } = await loggedIn({ port: this.#daemon().port }, user, `${user}-pw`);
    assert.equal((answer as Frame).header.status, 'good', `${user} could not log in`);
    this.#clients.push(client);
    return client;
  }

  closeAll(): void {
    for (const client of this.#clients.splice(0)) client.close();
  }
}

export async function nextFrame(client: RawClient, timeoutMs = 5000): Promise<Frame> {
  const frame = await client.next(timeoutMs);
  assert.ok(frame !== null, 'the connection closed');
  return frame as Frame;
}

/** The delivery a recipient gets (docs/protocol.md §3.4). */
export function delivery(type: string, data: unknown): Frame {
  return { header: { messageType: 'receivedMessage' }, payload: { data, type } };
}

/** Waits for the status report of message `id` and returns its header. */
export async function statusOf(client: RawClient, id: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
  const frame = await nextFrame(client, timeoutMs);
  assert.equal(frame.header.messageType, 'statusReport', `expected the status report of ${id}, got ${JSON.stringify(frame)}`);
  assert.equal(frame.payload.id, id);
  return frame.header;
}

/** Asserts nothing more arrives within `ms`. */
export async function assertQuiet(client: RawClient, ms = 150): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  assert.equal(client.queued, 0, 'unexpected frame');
}

/** A client SDK user (src/sdk/client.ts) whose deliveries are collected, to be read with deadlines. */
export class Inbox {
  readonly client: BesterClient;
  readonly #items: Delivery[] = [];
  readonly #waiters: Array<() => void> = [];

  constructor(client: BesterClient) {
    this.client = client;
    client.on('delivery', (delivery) => {
      this.#items.push(delivery);
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  static async open(server: string, username: string, password = `${username}-pw`): Promise<Inbox> {
    return new Inbox(await connect({ server, username, password, timeoutMs: 5000, sendTimeoutMs: 10_000 }));
  }

  get queued(): number {
    return this.#items.length;
  }

  /** The next delivery, or throws after timeoutMs. */
  async next(timeoutMs = 5000): Promise<Delivery> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) return item;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.client.username}: no delivery within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Asserts no delivery arrives within `ms`. */
  async quiet(ms = 150): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    assert.equal(this.#items.length, 0, `${this.client.username} got an unexpected delivery: ${JSON.stringify(this.#items[0])}`);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
