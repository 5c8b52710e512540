// FrameConnection's coalesceWrites (src/framing/frame-connection.ts): the frames of one turn of
// the event loop go to the stream as one write, in order; a frame's `written` is told once that
// write was handed on, or told an error when the connection went first (a kept delivery is then
// not taken for delivered); a close writes the turn's frames before the end; a turn's frames count
// against the outbound limit before they reach the stream.
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { FrameConnection, UNBOUNDED, type FrameConnectionEvents } from '../../src/framing/frame-connection.ts';
import type { BesterError } from '../../src/protocol/errors.ts';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';

/** A stream that records each write it is handed (its chunks, as the OS would get them) and whether it ended. */
class Recorder extends Duplex {
  readonly writes: Buffer[][] = [];
  ended = false;
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.writes.push([chunk]);
    done();
  }
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    this.writes.push(chunks.map((c) => c.chunk));
    done();
  }
  override _final(done: () => void): void {
    this.ended = true;
    done();
  }
  /** The frames written, in order, across all writes. */
  frames(): unknown[] {
    const out: unknown[] = [];
    const decoder = new FrameDecoder({ frame: (body) => out.push(parseFrameJson(body)), error: (err) => assert.fail(err) }, 1 << 24);
    for (const write of this.writes) for (const chunk of write) decoder.push(chunk);
    return out;
  }
}

function open(stream: Duplex, maxOutboundBytes = UNBOUNDED): { conn: FrameConnection; errors: BesterError[] } {
  const errors: BesterError[] = [];
  const events: FrameConnectionEvents = { frame: () => {}, protocolError: (err) => errors.push(err), ended: () => {}, closed: () => {} };
  return { conn: new FrameConnection(stream, 'test', events, { maxFrameBytes: 1024, maxOutboundBytes, coalesceWrites: true }), errors };
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

test("a turn's frames are one write, in order; the next turn's another; `written` told after its write", async () => {
  const stream = new Recorder();
  const { conn } = open(stream);
  const told: Array<[number, unknown]> = [];
  for (let n = 0; n < 5; n++) conn.sendFrame(encodeFrame({ n }), (err) => told.push([n, err ?? null]));
  assert.equal(stream.writes.length, 0, 'nothing is written before the turn ends');
  await nextTurn();
  await nextTurn();
  assert.equal(stream.writes.length, 1);
  assert.equal(stream.writes[0]!.length, 1, 'small frames copied into one buffer');
  assert.deepEqual(told, [[0, null], [1, null], [2, null], [3, null], [4, null]]);
  conn.send({ n: 5 });
  conn.send({ n: 6 });
  await nextTurn();
  assert.equal(stream.writes.length, 2);
  assert.deepEqual(stream.frames(), [0, 1, 2, 3, 4, 5, 6].map((n) => ({ n })));
});

test('a turn of more than 64 KiB goes out as its frames, in one writev, not copied', async () => {
  const stream = new Recorder();
  const { conn } = open(stream);
  const big = 'x'.repeat(40 * 1024);
  conn.send({ a: big });
  conn.send({ b: big });
  conn.send({ c: 1 });
  await nextTurn();
  assert.equal(stream.writes.length, 1);
  assert.equal(stream.writes[0]!.length, 3);
  assert.deepEqual(stream.frames(), [{ a: big }, { b: big }, { c: 1 }]);
});

test('destroyed before the turn ends: nothing is written, and each `written` is told an error', async () => {
  const stream = new Recorder();
  const { conn } = open(stream);
  const told: unknown[] = [];
  conn.sendFrame(encodeFrame({ kept: 1 }), (err) => told.push(err));
  conn.sendFrame(encodeFrame({ kept: 2 }), (err) => told.push(err));
  conn.destroy();
  assert.deepEqual(told, [], 'told later, as a stream tells its writes, not inside destroy()');
  await nextTurn();
  assert.equal(stream.writes.length, 0);
  assert.equal(told.length, 2);
  for (const err of told) assert.ok((err as object) instanceof Error);
});

test('close() in the same turn: the frames are written, then the end', async () => {
  const stream = new Recorder();
  const { conn } = open(stream);
  conn.send({ last: 1 });
  conn.send({ last: 2 });
  conn.close();
  await nextTurn();
  assert.deepEqual(stream.frames(), [{ last: 1 }, { last: 2 }]);
  assert.ok(stream.ended);
  assert.equal(conn.send({ late: true }), false, 'nothing is taken after the close');
});

test("a turn's frames count against the outbound limit before they reach the stream", async () => {
  const stream = new Recorder();
  const frame = encodeFrame({ pad: 'y'.repeat(100) });
  const { conn, errors } = open(stream, frame.length * 3);
  assert.equal(conn.sendFrame(frame), true);
  assert.equal(conn.sendFrame(frame), true);
  assert.equal(conn.sendFrame(frame), true);
  assert.equal(conn.sendFrame(frame), false, 'the fourth is over the limit though the stream holds nothing yet');
  assert.equal(errors[0]?.code, 'slow_consumer');
  await nextTurn();
  assert.equal(stream.writes.length, 0, 'cut off: the turn is dropped');
});
