// The counters behind the handler in-flight cap and the shutdown grace period (src/server/routing/in-flight.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ActivityCounter, FairHandlerGate } from '../../src/server/routing/in-flight.ts';

describe('FairHandlerGate', () => {
  test('refuses past the cap at once, per type, and frees slots on leave', () => {
    const gate = new FairHandlerGate();
    assert.deepEqual([1, 2, 3, 4].map((n) => gate.tryEnter('a', 3, `u${n}`, 10)), [null, null, null, 'handler']);
    assert.equal(gate.inFlight('a'), 3, 'a refusal takes no slot');
    assert.equal(gate.tryEnter('b', 1, 'u1', 10), null, 'each type has its own cap');
    gate.leave('a', 'u1');
    assert.equal(gate.tryEnter('a', 3, 'u4', 10), null);
    for (const user of ['u2', 'u3', 'u4']) gate.leave('a', user);
    gate.leave('b', 'u1');
    assert.deepEqual([gate.inFlight('a'), gate.inFlight('b')], [0, 0]);
  });

  test('one user holds at most maxPerUser of a handler; the others still get in; leaving gives the share back', () => {
    const gate = new FairHandlerGate();
    assert.deepEqual([1, 2, 3].map(() => gate.tryEnter('a', 10, 'greedy', 2)), [null, null, 'user']);
    assert.equal(gate.tryEnter('a', 10, 'other', 2), null);
    assert.equal(gate.inFlight('a'), 3);
    gate.leave('a', 'greedy');
    assert.equal(gate.tryEnter('a', 10, 'greedy', 2), null);
    assert.equal(gate.tryEnter('b', 10, 'greedy', 2), null, 'the share is per handler');
  });

  test('thousands of users coming and going leave every count at 0 and every share whole', () => {
    const gate = new FairHandlerGate();
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n < 5000; n++) assert.equal(gate.tryEnter('a', 10_000, `user${n}`, 1), null);
      assert.equal(gate.inFlight('a'), 5000);
      for (let n = 0; n < 5000; n++) gate.leave('a', `user${n}`);
      assert.equal(gate.inFlight('a'), 0);
    }
    for (let n = 0; n < 5000; n += 499) assert.equal(gate.tryEnter('a', 10_000, `user${n}`, 1), null, `user${n} can enter again`);
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
