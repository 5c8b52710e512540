// The contract every DeliveryBus passes (src/server/presence/delivery-bus.ts): memory and Redis
// (redis-stores.test.ts). `open` gives a new bus with no subscribers; each test opens its own and closes it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BusDelivery, DeliveryBus } from '../../src/server/presence/delivery-bus.ts';
import { allRejectClosed, code } from './store-errors.ts';

const delivery = (n: number, users: string[] = ['bob']): BusDelivery => ({
  users,
  frame: JSON.stringify({ header: { messageType: 'receivedMessage' }, payload: { type: 't', data: { n, s: 'é ✓' } } }),
});

export function deliveryBusContract(name: string, open: () => Promise<DeliveryBus>): void {
  async function withBus(fn: (bus: DeliveryBus) => Promise<void>): Promise<void> {
    const bus = await open();
    try {
      await fn(bus);
    } finally {
      await bus.close();
    }
  }

  describe(`DeliveryBus contract: ${name}`, () => {
    test('a delivery reaches the subscriber of its node, as published, and publish resolves once it was taken', () =>
      withBus(async (bus) => {
        const got: BusDelivery[] = [];
        const other: BusDelivery[] = [];
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        await bus.subscribe('n1', async (d) => {
          got.push(d);
          await held;
        });
        await bus.subscribe('n2', (d) => void other.push(d));
        let acked = false;
        const published = bus.publish('n1', delivery(1, ['bob', 'carol'])).then(() => (acked = true));
        for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
        assert.deepEqual(got, [delivery(1, ['bob', 'carol'])]);
        assert.equal(acked, false, 'not acknowledged before the listener resolved');
        release();
        await published;
        assert.equal(acked, true);
        assert.deepEqual(other, [], 'another node gets nothing');
      }));

    test("the message's context for a node that keeps it instead travels with it (sender, id, type, origin)", () =>
      withBus(async (bus) => {
        const got: BusDelivery[] = [];
        await bus.subscribe('n1', (d) => void got.push(d));
        const kept = { type: 'chat', id: 'm-7', sender: 'alice' };
        const relayed = { type: 'chat', id: 'm-8', sender: 'zoe', origin: 'other.example' };
        await bus.publish('n1', { ...delivery(1), kept });
        await bus.publish('n1', { ...delivery(2), kept: relayed });
        await bus.publish('n1', delivery(3));
        assert.deepEqual(got, [{ ...delivery(1), kept }, { ...delivery(2), kept: relayed }, delivery(3)]);
      }));

    test('in publish order per (publisher, node), one at a time per subscriber', () =>
      withBus(async (bus) => {
        const got: number[] = [];
        let running = 0;
        let overlapped = false;
        await bus.subscribe('n1', async (d) => {
          running++;
          if (running > 1) overlapped = true;
          await new Promise((r) => setTimeout(r, Math.random() * 3));
          got.push((JSON.parse(d.frame) as { payload: { data: { n: number } } }).payload.data.n);
          running--;
        });
        await Promise.all(Array.from({ length: 30 }, (_, i) => bus.publish('n1', delivery(i))));
        assert.deepEqual(got, Array.from({ length: 30 }, (_, i) => i));
        assert.equal(overlapped, false);
      }));

    test('every subscriber of a node gets every delivery', () =>
      withBus(async (bus) => {
        const a: number[] = [];
        const b: number[] = [];
        await bus.subscribe('n1', (d) => void a.push(d.frame.length));
        await bus.subscribe('n1', (d) => void b.push(d.frame.length));
        await bus.publish('n1', delivery(1));
        await bus.publish('n1', delivery(22));
        assert.equal(a.length, 2);
        assert.deepEqual(a, b);
      }));

    test('no subscriber, a failing listener, or an unsubscribe: publish rejects with store_error', () =>
      withBus(async (bus) => {
        await assert.rejects(bus.publish('nobody', delivery(1)), code('store_error'));
        await bus.subscribe('bad', () => {
          throw new Error('listener broke');
        });
        await assert.rejects(bus.publish('bad', delivery(1)), code('store_error'));
        const got: BusDelivery[] = [];
        const unsubscribe = await bus.subscribe('n1', (d) => void got.push(d));
        await bus.publish('n1', delivery(1));
        await unsubscribe();
        await unsubscribe(); // idempotent
        await assert.rejects(bus.publish('n1', delivery(2)), code('store_error'));
        assert.equal(got.length, 1, 'nothing after the unsubscribe');
      }));

    test('a delivery published again after a failure arrives again (at least once)', () =>
      withBus(async (bus) => {
        let fail = true;
        const got: string[] = [];
        await bus.subscribe('n1', (d) => {
          got.push(d.frame);
          if (fail) {
            fail = false;
            throw new Error('not now');
          }
        });
        const d = delivery(7);
        await assert.rejects(bus.publish('n1', d), code('store_error'));
        await bus.publish('n1', d);
        assert.deepEqual(got, [d.frame, d.frame]);
      }));

    test('the publisher may reuse its delivery object: the subscriber sees what was published', () =>
      withBus(async (bus) => {
        const got: string[][] = [];
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        await bus.subscribe('n1', async (d) => {
          await held;
          got.push([...d.users]);
        });
        const users = ['bob'];
        const published = bus.publish('n1', { users, frame: '{}' });
        users.push('mallory');
        release();
        await published;
        assert.deepEqual(got, [['bob']]);
      }));

    test('close is idempotent; every other call afterwards rejects with store_error', async () => {
      const bus = await open();
      await bus.subscribe('n1', () => undefined);
      await bus.close();
      await bus.close();
      await allRejectClosed({
        subscribe: () => bus.subscribe('n1', () => undefined),
        publish: () => bus.publish('n1', delivery(1)),
      });
    });
  });
}
