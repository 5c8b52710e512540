// The counters behind the handler in-flight cap and the shutdown grace period (src/server/routing/in-flight.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ActivityCounter, HandlerGate } from '../../src/server/routing/in-flight.ts';

describe('HandlerGate', () => {
  test('refuses past the cap at once, per type, and frees slots on leave', () => {
    const gate = new HandlerGate();
    assert.deepEqual([1, 2, 3, 4].map(() => gate.tryEnter('a', 3)), [true, true, true, false]);
    assert.equal(gate.inFlight('a'), 3, 'a refusal takes no slot');
    assert.equal(gate.tryEnter('b', 1), true, 'each type has its own cap');
    gate.leave('a');
    assert.equal(gate.tryEnter('a', 3), true);
    for (let i = 0; i < 3; i++) gate.leave('a');
    gate.leave('b');
    assert.deepEqual([gate.inFlight('a'), gate.inFlight('b')], [0, 0]);
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
