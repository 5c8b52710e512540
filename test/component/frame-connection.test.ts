// FrameConnection (src/framing/frame-connection.ts) over an in-memory duplex pair: frames both ways,
// a half-close in the middle of a frame, closed reported once, and release() handing the stream back.
import assert from 'node:assert/strict';
import { duplexPair, type Duplex } from 'node:stream';
import { test } from 'node:test';
import { ENDED_MID_FRAME, FrameConnection, UNBOUNDED, type FrameConnectionEvents } from '../../src/framing/frame-connection.ts';
import type { BesterError } from '../../src/protocol/errors.ts';
import { encodeFrame, parseFrameJson } from '../../src/protocol/frame.ts';

interface Seen {
  frames: unknown[];
  errors: BesterError[];
  ended: number;
  closed: number;
}

function open(stream: Duplex, label = 'test'): { conn: FrameConnection; seen: Seen } {
  const seen: Seen = { frames: [], errors: [], ended: 0, closed: 0 };
  const events: FrameConnectionEvents = {
    frame: (body) => seen.frames.push(parseFrameJson(body)),
    protocolError: (err) => seen.errors.push(err),
    ended: () => seen.ended++,
    closed: () => seen.closed++,
  };
  return { conn: new FrameConnection(stream, label, events, { maxFrameBytes: 1024, maxOutboundBytes: UNBOUNDED }), seen };
}

const turn = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

test('frames both ways; the owner names the connection; closed is reported once', async () => {
  const [a, b] = duplexPair();
  const left = open(a, 'left');
  const right = open(b, 'right');
  assert.equal(left.conn.label, 'left');
  left.conn.send({ n: 1 });
  right.conn.send({ n: 2 });
  await turn();
  assert.deepEqual(right.seen.frames, [{ n: 1 }]);
  assert.deepEqual(left.seen.frames, [{ n: 2 }]);
  left.conn.destroy();
  left.conn.destroy();
  await turn();
  assert.equal(left.seen.closed, 1);
  assert.equal(left.conn.send({ n: 3 }), false);
});

test('a peer that half-closes in the middle of a frame is a protocol error, not an end', async () => {
  const [a, b] = duplexPair();
  const { seen } = open(a);
  const frame = encodeFrame({ cut: true });
  b.end(frame.subarray(0, frame.length - 2));
  await turn();
  assert.equal(seen.ended, 0);
  assert.equal(seen.errors[0]?.code, 'malformed_frame');
  assert.equal(seen.errors[0]?.message, ENDED_MID_FRAME);
});

test('release() hands the stream back untouched when nothing of a frame was read, and reports nothing after', async () => {
  const [a, b] = duplexPair();
  const { conn, seen } = open(a);
  const listeners = (['data', 'end', 'close', 'error'] as const).map((e) => a.listenerCount(e));
  const stream = conn.release();
  assert.equal(stream, a);
  assert.deepEqual((['data', 'end', 'close', 'error'] as const).map((e) => a.listenerCount(e)), listeners.map((n) => n - 1));
  const chunks: Buffer[] = [];
  a.on('data', (chunk: Buffer) => chunks.push(chunk));
  b.write(encodeFrame({ raw: true }));
  await turn();
  assert.deepEqual(seen.frames, [], 'the released connection decodes nothing');
  assert.deepEqual(parseFrameJson(Buffer.concat(chunks).subarray(4)), { raw: true });
  a.destroy();
  await turn();
  assert.equal(seen.closed, 0);
  assert.equal(conn.isOpen, false);
});

test('release() is refused in the middle of a frame', async () => {
  const [a, b] = duplexPair();
  const { conn } = open(a);
  b.write(encodeFrame({ x: 1 }).subarray(0, 3));
  await turn();
  assert.equal(conn.release(), null);
  assert.equal(conn.isOpen, true);
  conn.destroy();
});

test('a peer streaming full reads gets one a turn of the event loop; other connections are read in between', async () => {
  // In the daemon the stream is a socket and libuv reads up to 32 buffers of 64 KiB from it in one
  // go; here 32 frames of 64 KiB are waiting in the stream at once.
  const [a, b] = duplexPair();
  const [c, d] = duplexPair();
  let turnNo = 0;
  let ticking = true;
  const tick = (): void => {
    turnNo++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const perTurn = new Map<number, number>();
  let bulkFrames = 0;
  let smallAt = -1;
  const events = (onFrame: (body: Buffer) => void): FrameConnectionEvents => ({
    frame: onFrame,
    protocolError: () => undefined,
    ended: () => undefined,
    closed: () => undefined,
  });
  const options = { maxFrameBytes: 1 << 20, maxOutboundBytes: UNBOUNDED };
  const bulk = new FrameConnection(a, 'bulk', events(() => {
    bulkFrames++;
    perTurn.set(turnNo, (perTurn.get(turnNo) ?? 0) + 1);
  }), options);
  const small = new FrameConnection(c, 'small', events(() => {
    smallAt = bulkFrames;
  }), options);
  const frame = encodeFrame({ blob: 'x'.repeat(64 * 1024) });
  for (let i = 0; i < 32; i++) b.write(frame);
  d.write(encodeFrame({ ping: 1 }));
  for (let i = 0; i < 500 && (bulkFrames < 32 || smallAt < 0); i++) await new Promise((r) => setImmediate(r));
  ticking = false;
  assert.equal(bulkFrames, 32, 'every frame arrives');
  const most = Math.max(...perTurn.values());
  assert.ok(most <= 2, `at most a full read or two a turn from the streaming peer (the most in one turn: ${most} frames of 64 KiB)`);
  assert.ok(smallAt >= 0 && smallAt <= 4, `the other connection's frame is read before the stream's end (after ${smallAt} of 32 frames)`);
  bulk.destroy();
  small.destroy();
});
