// The write-stall cut of FrameConnection (docs/protocol.md §7 slow_consumer) over an in-memory
// duplex pair: a peer that reads nothing is cut off after writeStallMs; one that reads slowly is not.
import assert from 'node:assert/strict';
import { duplexPair } from 'node:stream';
import { test } from 'node:test';
import type { BesterError } from '../../src/protocol/errors.ts';
import { FrameConnection } from '../../src/framing/frame-connection.ts';

function setup(writeStallMs: number): { conn: FrameConnection; peer: ReturnType<typeof duplexPair>[1]; errors: BesterError[] } {
  const [ours, peer] = duplexPair();
  const errors: BesterError[] = [];
  const conn = new FrameConnection(
    ours,
    'test',
    { frame: () => undefined, protocolError: (err) => errors.push(err), ended: () => undefined, closed: () => undefined },
    { maxFrameBytes: 1024, maxOutboundBytes: 64 * 1024 * 1024, writeStallMs },
  );
  return { conn, peer, errors };
}

const CHUNK = { pad: 'x'.repeat(64 * 1024) };

test('a peer that reads nothing is cut off with slow_consumer once writeStallMs passes without progress', async () => {
  const { conn, peer, errors } = setup(100);
  peer.pause();
  const started = Date.now();
  for (let i = 0; i < 16; i++) assert.equal(conn.send(CHUNK), true);
  const deadline = Date.now() + 2000;
  while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(errors[0]?.code, 'slow_consumer');
  assert.match(errors[0]?.message ?? '', /bytes waited 100 ms without being read/);
  const took = Date.now() - started;
  assert.ok(took >= 90 && took < 1000, `cut after ${took} ms`);
  assert.equal(conn.isOpen, false);
  assert.equal(conn.send(CHUNK), false, 'nothing more is queued');
});

test('a peer that reads slowly but steadily is not cut off; one timer, disarmed once all is sent', async () => {
  const { conn, peer, errors } = setup(100);
  peer.pause();
  for (let i = 0; i < 16; i++) conn.send(CHUNK);
  // Read a little every 40 ms: progress within every stall window.
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 40));
    peer.read(64 * 1024);
  }
  peer.resume();
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(errors, []);
  assert.equal(conn.isOpen, true);
  conn.destroy();
});
