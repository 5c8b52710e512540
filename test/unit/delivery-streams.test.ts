// Delivery iterators with backpressure (src/sdk/delivery-streams.ts) and the reconnect backoff
// (src/sdk/reconnect.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeliveryStreams } from '../../src/sdk/delivery-streams.ts';
import { backoffDelay, readReconnectOptions } from '../../src/sdk/reconnect.ts';

function streams(highWater: number) {
  const events: string[] = [];
  const s = new DeliveryStreams({ highWater, pause: () => events.push('pause'), resume: () => events.push('resume') });
  return { s, events };
}

const d = (n: number) => ({ type: 't', data: n });

describe('DeliveryStreams', () => {
  test('an iterator gets what arrives after it was made, in order; waiting next() calls are answered', async () => {
    const { s } = streams(10);
    s.push(d(0)); // nobody listens: dropped, nothing held
    const it = s.iterator();
    const waiting = [it.next(), it.next()];
    s.push(d(1));
    s.push(d(2));
    s.push(d(3));
    assert.deepEqual(await Promise.all(waiting), [{ done: false, value: d(1) }, { done: false, value: d(2) }]);
    assert.deepEqual(await it.next(), { done: false, value: d(3) });
  });

  test('every iterator gets every delivery', async () => {
    const { s } = streams(10);
    const a = s.iterator();
    const b = s.iterator();
    s.push(d(1));
    assert.deepEqual(await a.next(), { done: false, value: d(1) });
    assert.deepEqual(await b.next(), { done: false, value: d(1) });
  });

  test('pauses when one iterator holds highWater, resumes below half of it', async () => {
    const { s, events } = streams(4);
    const slow = s.iterator();
    const fast = s.iterator();
    for (let i = 0; i < 4; i++) {
      s.push(d(i));
      await fast.next();
    }
    assert.deepEqual(events, ['pause']);
    assert.equal(s.paused, true);
    await slow.next();
    await slow.next();
    assert.deepEqual(events, ['pause']);
    await slow.next(); // 1 left < 2
    assert.deepEqual(events, ['pause', 'resume']);
    assert.equal(s.paused, false);
  });

  test('letting go of a full iterator (break, return) resumes', async () => {
    const { s, events } = streams(2);
    const it = s.iterator();
    s.push(d(1));
    s.push(d(2));
    assert.deepEqual(events, ['pause']);
    assert.deepEqual(await it.return?.(), { done: true, value: undefined });
    assert.deepEqual(events, ['pause', 'resume']);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  test('end(): iterators hand out what they hold, then finish; new ones finish at once', async () => {
    const { s } = streams(10);
    const it = s.iterator();
    const idle = s.iterator();
    const waiting = idle.next();
    s.push(d(1));
    const other = s.iterator();
    const pending = other.next();
    s.end();
    assert.deepEqual(await it.next(), { done: false, value: d(1) });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    assert.deepEqual(await waiting, { done: false, value: d(1) });
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.deepEqual(await s.iterator().next(), { done: true, value: undefined });
    s.push(d(2));
    assert.deepEqual(await idle.next(), { done: true, value: undefined });
  });

  test('for await over many deliveries keeps order and memory flat', async () => {
    const { s } = streams(100_000);
    const it = s.iterator();
    for (let i = 0; i < 5000; i++) s.push(d(i));
    s.end();
    let expected = 0;
    for await (const item of it) assert.equal(item.data, expected++);
    assert.equal(expected, 5000);
  });
});

describe('reconnect backoff', () => {
  test('doubles from initialDelayMs up to maxDelayMs, with jitter between half and all', () => {
    const policy = readReconnectOptions({ initialDelayMs: 100, maxDelayMs: 1000 });
    assert.ok(policy);
    assert.deepEqual([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(policy, n, () => 1)), [100, 200, 400, 800, 1000, 1000]);
    assert.deepEqual([1, 2, 5].map((n) => backoffDelay(policy, n, () => 0)), [50, 100, 500]);
  });

  test('defaults, off, and invalid options', () => {
    assert.equal(readReconnectOptions(undefined), null);
    assert.equal(readReconnectOptions(false), null);
    assert.deepEqual(readReconnectOptions(true), { initialDelayMs: 200, maxDelayMs: 10_000, maxAttempts: Infinity });
    assert.throws(() => readReconnectOptions({ initialDelayMs: 500, maxDelayMs: 100 }), RangeError);
    assert.throws(() => readReconnectOptions({ maxAttempts: 0 }), RangeError);
    assert.throws(() => readReconnectOptions({ initialDelayMs: Number.NaN }), RangeError);
  });
});
