// The built-in ping and TCP keepalive against a real daemon (docs/protocol.md §5.3). Intervals are
// a few hundred ms so that the test is fast; every wait is bounded.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import { connect } from '../../src/sdk/client.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { message, RawClient, type Target } from '../helpers/raw-client.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

const INTERVAL = 400;
const open: RawClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

async function loginWith(target: Target, user: string, features?: unknown): Promise<RawClient> {
  const client = await RawClient.connect(target);
  open.push(client);
  const header: Record<string, unknown> = { scope: 'client', authentication: { username: user, password: `${user}-pw` } };
  if (features !== undefined) header.features = features;
  client.send({ header, payload: { type: 'login', id: 'login', data: null } });
  assert.equal(((await client.next()) as Frame).header.status, 'good');
  return client;
}

/** Frames received within `ms` (the connection may close meanwhile). */
async function framesWithin(client: RawClient, ms: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return frames;
    const frame = await client.next(left).catch(() => undefined);
    if (frame === undefined) return frames; // no frame in time
    if (frame === null) return frames; // closed
    frames.push(frame as Frame);
  }
}

/**
 * Whether the OS has TCP keepalive on for the daemon's end of a connection, read from /proc/net/tcp
 * (the timer column says "02" for keepalive). null where that file does not exist (not Linux).
 */
function keepaliveOn(serverPort: number, clientPort: number): boolean | null {
  if (!existsSync('/proc/net/tcp')) return null;
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  const line = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[1]?.endsWith(`:${hex(serverPort)}`) && f[2]?.endsWith(`:${hex(clientPort)}`));
  assert.ok(line, 'the connection is listed in /proc/net/tcp');
  return line[5]?.startsWith('02:') ?? false;
}

describe('liveness: the built-in ping', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon({ extra: { liveness: { pingIntervalMs: INTERVAL, maxMissedPings: 2 } } });
  });
  after(() => d.close());

  test('a quiet client that announced "ping" is pinged; answering keeps it, with no status report for the pong', async () => {
    const client = await loginWith({ port: d.port }, 'alice', ['ping']);
    const ids: string[] = [];
    const until = Date.now() + INTERVAL * 6;
    while (Date.now() < until) {
      const frame = (await client.next(INTERVAL * 3)) as Frame | null;
      assert.ok(frame, 'still open');
      assert.deepEqual(frame, { header: { messageType: 'ping' }, payload: { id: `ping-${ids.length + 1}` } });
      ids.push(frame.payload.id);
      client.send({ header: {}, payload: { type: 'pong', id: frame.payload.id, data: null } });
    }
    assert.ok(ids.length >= 3, `several pings answered: ${ids.join(', ')}`);
    client.send(message('dummy', 'after-pings', null));
    const next = (await client.next()) as Frame;
    // Either a ping came first, or the dummy answer: never a status report for a pong.
    assert.ok(next.payload.id === 'after-pings' || next.header.messageType === 'ping', JSON.stringify(next));
    assert.equal(client.closed, false);
  });

  test('any frame counts as an answer: a client that keeps sending is never pinged', async () => {
    const client = await loginWith({ port: d.port }, 'bob', ['ping']);
    for (let i = 0; i < 8; i++) {
      client.send(message('dummy', `d${i}`, null));
      assert.equal(((await client.next()) as Frame).payload.id, `d${i}`);
      await new Promise((r) => setTimeout(r, INTERVAL / 2));
    }
  });

  test('unanswered pings close the connection with ping_timeout after maxMissedPings', async () => {
    const started = Date.now();
    const client = await loginWith({ port: d.port }, 'carol', ['ping']);
    const frames = await framesWithin(client, INTERVAL * 8);
    assert.deepEqual(
      frames.map((f) => f.header.messageType === 'ping' ? f.payload.id : f.header.code),
      ['ping-1', 'ping-2', 'ping_timeout'],
    );
    assert.ok(await client.waitClosed(1000));
    const took = Date.now() - started;
    assert.ok(took >= INTERVAL * 3 - 50 && took < INTERVAL * 8, `closed after ${took} ms`);
  });

  test('a legacy client (no "ping" feature) is not pinged, and the OS keeps TCP keepalive on its socket', async () => {
    const client = await loginWith({ port: d.port }, 'alice');
    assert.deepEqual(await framesWithin(client, INTERVAL * 5), []);
    assert.equal(client.closed, false);
    const on = keepaliveOn(d.port, client.socket.localPort ?? 0);
    if (on !== null) assert.equal(on, true, 'SO_KEEPALIVE set on the daemon side');
  });

  test('a client may send ping itself: answered with a good status report', async () => {
    const client = await loginWith({ port: d.port }, 'alice');
    client.send(message('ping', 'p1', null));
    assert.deepEqual(await client.next(), { header: { status: 'good', messageType: 'statusReport' }, payload: { id: 'p1' } });
  });

  test('the client SDK announces ping and answers by itself: it stays connected while idle', async () => {
    const client = await connect({ server: { path: d.unixPath }, username: 'bob', password: 'bob-pw' });
    try {
      // Without answers the daemon would close it after 3 intervals (maxMissedPings 2).
      await new Promise((r) => setTimeout(r, INTERVAL * 6));
      assert.equal(client.connected, true);
      assert.equal((await client.send('dummy', null)).status, 'good');
    } finally {
      await client.close();
    }
  });
});

describe('liveness.pingLegacyClients', () => {
  test('pings every client, also one that did not announce the feature', async () => {
    const d = await startTestDaemon({ extra: { liveness: { pingIntervalMs: INTERVAL, maxMissedPings: 1, pingLegacyClients: true } } });
    try {
      const client = await loginWith({ path: d.unixPath }, 'alice');
      const frames = await framesWithin(client, INTERVAL * 6);
      assert.deepEqual(frames.map((f) => (f.header.messageType === 'ping' ? f.payload.id : f.header.code)), ['ping-1', 'ping_timeout']);
    } finally {
      await d.close();
    }
  });
});
