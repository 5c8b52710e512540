// The client's own event emitter (src/sdk/event-emitter.ts): node:events' behaviour where the
// client relies on it, so that code written against the Node client keeps working.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { Emitter } from '../../src/sdk/event-emitter.ts';

type Events = { note: [text: string]; error: [err: Error] };

test('on, once, off and emit, in the order listeners were added', () => {
  const e = new Emitter<Events>();
  const seen: string[] = [];
  const a = (t: string): void => void seen.push(`a:${t}`);
  e.on('note', a);
  e.once('note', (t) => seen.push(`once:${t}`));
  e.prependListener('note', (t) => seen.push(`first:${t}`));
  assert.equal(e.listenerCount('note'), 3);
  assert.equal(e.emit('note', '1'), true);
  assert.equal(e.emit('note', '2'), true);
  e.off('note', a);
  e.emit('note', '3');
  assert.deepEqual(seen, ['first:1', 'a:1', 'once:1', 'first:2', 'a:2', 'first:3']);
  e.removeAllListeners();
  assert.equal(e.emit('note', '4'), false);
});

test('a listener added or removed during an emit does not change that emit', () => {
  const e = new Emitter<Events>();
  const seen: string[] = [];
  const second = (): void => void seen.push('second');
  e.on('note', () => {
    seen.push('first');
    e.off('note', second);
    e.on('note', () => seen.push('added'));
  });
  e.on('note', second);
  e.emit('note', 'x');
  assert.deepEqual(seen, ['first', 'second']);
});

test("emitting 'error' without a listener does not throw; events.once works with it", async () => {
  const e = new Emitter<Events>();
  assert.equal(e.emit('error', new Error('nobody listens')), false);
  const got = once(e, 'note');
  e.emit('note', 'hello');
  assert.deepEqual(await got, ['hello']);
  assert.equal(e.listenerCount('note'), 0);
  assert.equal(e.listenerCount('error'), 0, 'events.once removed its error listener');
});
