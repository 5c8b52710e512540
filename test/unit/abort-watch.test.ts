// AbortWatch (src/server/handlers/handler-link.ts): a link's calls' abort signals, listened for once per signal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AbortWatch } from '../../src/server/handlers/handler-link.ts';

test('each signal is told once however many calls watched it, and only the signal that fired', () => {
  const told: AbortSignal[] = [];
  const watch = new AbortWatch((signal) => told.push(signal));
  const a = new AbortController();
  const b = new AbortController();
  for (let i = 0; i < 3; i++) watch.watch(a.signal);
  watch.watch(b.signal);
  watch.watch(a.signal); // the last one watched is not the only one remembered
  a.abort();
  assert.deepEqual(told, [a.signal]);
  b.abort();
  assert.deepEqual(told, [a.signal, b.signal]);
});

test('a signal watched again after it fired is listened for anew; clear() stops every listener', () => {
  const told: string[] = [];
  const watch = new AbortWatch(() => told.push('aborted'));
  const first = new AbortController();
  watch.watch(first.signal);
  first.abort();
  const second = new AbortController();
  watch.watch(second.signal);
  watch.clear();
  second.abort();
  assert.deepEqual(told, ['aborted'], 'cleared before the second fired');
  const third = new AbortController();
  watch.watch(third.signal);
  watch.watch(third.signal);
  third.abort();
  assert.deepEqual(told, ['aborted', 'aborted'], 'watched after clear(): told once');
});
