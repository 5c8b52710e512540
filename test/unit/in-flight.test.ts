// The counters behind the handler in-flight cap and the shutdown grace period (src/server/routing/in-flight.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ActivityCounter, FairHandlerGate, type GateSlot } from '../../src/server/routing/in-flight.ts';

describe('FairHandlerGate', () => {
  /** tryEnter's answer: the refusal, or null when a slot was taken (kept in `slots` to give back). */
  function enter(gate: FairHandlerGate, slots: GateSlot[], type: string, max: number, user: string, maxPerUser: number): 'handler' | 'user' | null {
    const slot = gate.tryEnter(type, max, user, maxPerUser);
    if (typeof slot === 'string') return slot;
    assert.equal(slot.user, user);
    slots.push(slot);
    return null;
  }

  test('refuses past the cap at once, per type, and frees slots on leave', () => {
    const gate = new FairHandlerGate();
    const a: GateSlot[] = [];
    const b: GateSlot[] = [];
    assert.deepEqual([1, 2, 3, 4].map((n) => enter(gate, a, 'a', 3, `u${n}`, 10)), [null, null, null, 'handler']);
    assert.equal(gate.inFlight('a'), 3, 'a refusal takes no slot');
    assert.equal(enter(gate, b, 'b', 1, 'u1', 10), null, 'each type has its own cap');
    gate.leave(a.shift()!);
    assert.equal(enter(gate, a, 'a', 3, 'u4', 10), null);
    for (const slot of a.splice(0)) gate.leave(slot);
    gate.leave(b.shift()!);
    assert.deepEqual([gate.inFlight('a'), gate.inFlight('b')], [0, 0]);
  });

  test('one user holds at most maxPerUser of a handler; the others still get in; leaving gives the share back', () => {
    const gate = new FairHandlerGate();
    const slots: GateSlot[] = [];
    assert.deepEqual([1, 2, 3].map(() => enter(gate, slots, 'a', 10, 'greedy', 2)), [null, null, 'user']);
    assert.equal(enter(gate, slots, 'a', 10, 'other', 2), null);
    assert.equal(gate.inFlight('a'), 3);
    gate.leave(slots[0]!);
    assert.equal(enter(gate, slots, 'a', 10, 'greedy', 2), null);
    assert.equal(enter(gate, slots, 'a', 10, 'greedy', 2), 'user', 'the share given back is taken again');
    assert.equal(enter(gate, slots, 'b', 10, 'greedy', 2), null, 'the share is per handler');
  });

  test('thousands of users coming and going leave every count at 0 and every share whole', () => {
    const gate = new FairHandlerGate();
    for (let round = 0; round < 3; round++) {
      const slots: GateSlot[] = [];
      for (let n = 0; n < 5000; n++) assert.equal(enter(gate, slots, 'a', 10_000, `user${n}`, 1), null);
      assert.equal(gate.inFlight('a'), 5000);
      for (const slot of slots) gate.leave(slot);
      assert.equal(gate.inFlight('a'), 0);
    }
    for (let n = 0; n < 5000; n += 499) assert.equal(enter(gate, [], 'a', 10_000, `user${n}`, 1), null, `user${n} can enter again`);
    assert.equal(enter(gate, [], 'a', 10_000, 'user0', 1), 'user', 'a share taken after the churn still counts');
  });
});

describe('ActivityCounter', () => {
  test('idle() resolves at once when nothing runs, when the last task leaves, or false after the timeout', async () => {
    const counter = new ActivityCounter();
    assert.equal(await counter.idle(1000), true);
    counter.enter();
    counter.enter();
    assert.equal(await counter.idle(20), false);
    const idle = counter.idle(5000);
    counter.leave();
    assert.equal(counter.active, 1);
    setTimeout(() => counter.leave(), 10);
    const started = performance.now();
    assert.equal(await idle, true);
    assert.ok(performance.now() - started < 1000);
  });
});
