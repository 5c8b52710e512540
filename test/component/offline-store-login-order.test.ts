// docs/protocol.md §4.3.1 through the asynchronous OfflineQueue: kept deliveries go out before
// live ones, also when the user logs in while a keep's put is still on its way to the queue
// (src/server/offline/user-lock.ts). The queue's put is held back by a wrapper; the session is a
// stand-in that holds live frames back until the flush is done, as session.ts does.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeJsonFrame } from '../../src/protocol/frame.ts';
import { JsonData } from '../../src/protocol/json-text.ts';
import { deliveryJson } from '../../src/protocol/builders.ts';
import { MemoryAccountStore } from '../../src/server/accounts/memory-store.ts';
import { silentLogger } from '../../src/server/log.ts';
import { OfflineDelivery } from '../../src/server/offline/offline-delivery.ts';
import { SessionRegistry } from '../../src/server/session/registry.ts';
import { MemoryOfflineQueue } from '../../src/server/storage/memory-offline-queue.ts';
import { SlowOfflineQueue } from '../helpers/slow-offline-queue.ts';

/** What a logged-in connection does with frames: live ones wait while the flush runs (session.ts #held). */
class StandInSession {
  readonly written: string[] = [];
  #held: Buffer[] | null = [];

  sendFrame(frame: Buffer): boolean {
    if (this.#held) this.#held.push(frame);
    else this.written.push(text(frame));
    return true;
  }

  /** The flush target: ahead of anything held; `written(true)` once "on the wire" (a turn later, like a socket). */
  readonly target = {
    write: (frame: Buffer, written: (ok: boolean) => void): boolean => {
      this.written.push(text(frame));
      setImmediate(() => written(true));
      return true;
    },
  };

  release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const frame of held) this.written.push(text(frame));
  }
}

const text = (frame: Buffer): string => frame.subarray(4).toString('utf8');
const n = (s: string): number => (JSON.parse(s) as { payload: { data: { n: number } } }).payload.data.n;
const context = { type: 'chat', id: null, sender: 'alice' };

async function setup(): Promise<{ delivery: OfflineDelivery; queue: SlowOfflineQueue; registry: SessionRegistry; close: () => Promise<void> }> {
  const accounts = new MemoryAccountStore();
  await accounts.add('bob', 'pw');
  const queue = new SlowOfflineQueue(new MemoryOfflineQueue());
  const registry = new SessionRegistry();
  const delivery = new OfflineDelivery({
    queue,
    accounts,
    registry,
    config: { enabled: true, maxPerUser: 100, maxBytesPerUser: 1 << 20, maxBytes: 1 << 24, ttlMs: 60_000 },
    logger: silentLogger(),
  });
  return {
    delivery,
    queue,
    registry,
    close: async () => {
      await delivery.close();
      await accounts.close();
    },
  };
}

describe('offline delivery: the login order through an asynchronous queue', () => {
  test('a message kept while the user logs in is delivered in that session, after the earlier kept ones and before later live ones', async () => {
    const { delivery, queue, registry, close } = await setup();
    try {
      const keep = (i: number): ReturnType<OfflineDelivery['keep']> => delivery.keep(['bob'], 'chat', new JsonData({ n: i }), context);
      assert.deepEqual((await keep(1)).stored, ['bob']);
      assert.deepEqual((await keep(2)).stored, ['bob']);

      // Kept while bob is offline, but its put has not landed yet...
      queue.hold();
      const third = keep(3);
      await queue.putStarted();
      // ...when bob logs in: online from now on, his flush starts, and a live delivery arrives.
      const bob = new StandInSession();
      registry.add('bob', bob);
      const flushed = delivery.flush('bob', bob.target).then(() => bob.release());
      bob.sendFrame(encodeJsonFrame(deliveryJson('chat', { n: 4 })));
      // Let the flush get as far as it can before the put lands.
      await new Promise((r) => setTimeout(r, 20));
      queue.release();

      const result = await third;
      await flushed;
      assert.deepEqual(result.stored, ['bob'], 'it was kept (the user was offline when it was checked)');
      assert.deepEqual(bob.written.map(n), [1, 2, 3, 4], 'kept ones in order, the late one among them, then the live one');
      assert.equal(await queue.waiting('bob'), 0, 'nothing left waiting for the next login');
      assert.equal(delivery.waiting(), 0);
    } finally {
      await close();
    }
  });

  test('a keep that starts while the flush runs goes out live, after the kept ones', async () => {
    const { delivery, registry, close } = await setup();
    try {
      for (let i = 1; i <= 3; i++) await delivery.keep(['bob'], 'chat', new JsonData({ n: i }), context);
      const bob = new StandInSession();
      registry.add('bob', bob);
      const flushed = delivery.flush('bob', bob.target).then(() => bob.release());
      // Checked after the flush: bob is online, so the session gets it (held behind the kept ones).
      const late = await delivery.keep(['bob'], 'chat', new JsonData({ n: 4 }), context);
      await flushed;
      assert.deepEqual(late.delivered, ['bob']);
      assert.deepEqual(bob.written.map(n), [1, 2, 3, 4]);
    } finally {
      await close();
    }
  });
});
