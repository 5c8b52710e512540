import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Fifo } from '../../src/protocol/fifo.ts';

describe('Fifo (the frame decoder\'s chunks, the pipeline\'s messages)', () => {
  test('hands items out in the order they came, across growth and wrap-around, as an array queue does', () => {
    // Each op: a number pushes it, null shifts one; checked against an array used as a queue.
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer(), { nil: null, freq: 3 }), { maxLength: 300 }), (ops) => {
        const fifo = new Fifo<number>();
        const model: number[] = [];
        for (const op of ops) {
          if (op === null) assert.equal(fifo.shift(), model.shift());
          else {
            fifo.push(op);
            model.push(op);
          }
          assert.equal(fifo.length, model.length);
          for (let i = 0; i < model.length; i++) assert.equal(fifo.at(i), model[i]);
        }
      }),
    );
  });

  test('at() outside the items, and shift() when empty, give undefined', () => {
    const fifo = new Fifo<string>();
    assert.equal(fifo.shift(), undefined);
    assert.equal(fifo.at(0), undefined);
    fifo.push('a');
    assert.equal(fifo.at(-1), undefined);
    assert.equal(fifo.at(1), undefined);
    assert.equal(fifo.at(0), 'a');
  });

  test('clear() empties it, and it goes on in order after', () => {
    const fifo = new Fifo<number>();
    for (let i = 0; i < 11; i++) fifo.push(i);
    fifo.shift();
    fifo.clear();
    assert.equal(fifo.length, 0);
    assert.equal(fifo.shift(), undefined);
    for (let i = 0; i < 5; i++) fifo.push(100 + i);
    assert.deepEqual([fifo.shift(), fifo.shift(), fifo.length], [100, 101, 3]);
  });
});
