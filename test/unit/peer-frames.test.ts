// A peer link's frames (src/server/session/peer-frames.ts): a big frame is read at the end of the
// event loop's turn, one a turn, so that local clients' reads of that turn go first; the order of
// the frames is kept, and a frame that is not JSON stops the reading.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import type { BesterError } from '../../src/protocol/errors.ts';
import { DEFERRED_FRAME_BYTES, PeerFrames } from '../../src/server/session/peer-frames.ts';

function body(seq: number, size = 0): Buffer {
  return Buffer.from(JSON.stringify({ header: {}, payload: { seq, data: 'x'.repeat(size) } }));
}

function reader(): { frames: PeerFrames; seen: number[]; failed: BesterError[]; datas: string[]; paused: () => boolean } {
  const seen: number[] = [];
  const datas: string[] = [];
  const failed: BesterError[] = [];
  let paused = false;
  const frames = new PeerFrames({ pause: () => (paused = true), resume: () => (paused = false) }, () => 64, (err) => failed.push(err));
  frames.sink = {
    frame(value: unknown, bytes: Buffer) {
      const payload = (value as { payload: { seq: number; data: unknown } }).payload;
      seen.push(payload.seq);
      datas.push(String(payload.data === null ? (JSON.parse(bytes.toString()) as { payload: { data: unknown } }).payload.data : payload.data));
    },
    closed() {},
  };
  return { frames, seen, failed, datas, paused: () => paused };
}

describe('PeerFrames', () => {
  test('small frames are read at once; a big one waits for the end of the turn, and what follows it waits too', async () => {
    const r = reader();
    const { frames, seen, datas } = r;
    frames.push(body(1));
    assert.deepEqual(seen, [1]);
    frames.push(body(2, DEFERRED_FRAME_BYTES));
    frames.push(body(3));
    frames.push(body(4, DEFERRED_FRAME_BYTES));
    frames.push(body(5));
    assert.deepEqual(seen, [1], 'nothing behind a big frame is read in the same turn');
    assert.equal(r.paused(), true, 'reading stops while a big frame waits');
    await turn();
    assert.deepEqual(seen, [1, 2, 3], 'one big frame a turn, with the small ones behind it');
    await turn();
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    assert.equal(r.paused(), false, 'and resumes once none waits');
    assert.equal(datas[1]!.length, DEFERRED_FRAME_BYTES, "a big frame's data reaches the sink as its text");
  });

  test("the link's own pause holds reading even after the backlog is read", async () => {
    const r = reader();
    r.frames.push(body(1, DEFERRED_FRAME_BYTES));
    r.frames.link.pause();
    await turn();
    assert.deepEqual(r.seen, [1]);
    assert.equal(r.paused(), true, 'the link still holds it');
    r.frames.link.resume();
    assert.equal(r.paused(), false);
  });

  test('a frame that is not JSON stops the reading; what waited behind it is dropped', async () => {
    const { frames, seen, failed } = reader();
    frames.push(Buffer.from(`{"payload":{"seq":1,"data":"${'x'.repeat(DEFERRED_FRAME_BYTES)}\u0001"}}`));
    frames.push(body(2));
    await turn();
    await turn();
    assert.deepEqual(seen, []);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.code, 'malformed_json');
    frames.push(body(3));
    assert.deepEqual(seen, [], 'nothing is read once stopped');
  });
});
