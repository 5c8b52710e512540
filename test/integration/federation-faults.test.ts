// Federation under a buggy or hostile peer (issue 15, findings 1, 2, 4 and 5), with real daemons
// and a scripted peer holding the right secret: backpressure on an inbound link, results a link
// cannot carry, one active link per peer, and the origin server in envelopes.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { INBOUND_BUFFER_BYTES } from '../../src/server/federation/inbound-link.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { FAULT_HANDLER, peerOf, ScriptedPeer, SECRET, TestNode, waitFor } from '../helpers/federation.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

async function user(node: TestNode, name: string): Promise<RawClient> {
  const { client, answer } = await loggedIn({ port: node.port }, name, `${name}-pw`);
  assert.equal((answer as Frame).header.status, 'good');
  return client;
}

const nodes: TestNode[] = [];
function node(spec: ConstructorParameters<typeof TestNode>[0]): TestNode {
  const n = new TestNode({ script: FAULT_HANDLER, ...spec });
  nodes.push(n);
  return n;
}
after(async () => {
  for (const n of nodes) await n.destroy();
});

/** Deliveries a client received within `ms` (it is read until quiet). */
async function drain(client: RawClient, ms = 300, max = 10_000): Promise<Frame[]> {
  const got: Frame[] = [];
  for (let i = 0; i < max; i++) {
    try {
      const f = (await client.next(ms)) as Frame | null;
      if (f === null) break;
      got.push(f);
    } catch {
      break;
    }
  }
  return got;
}

describe('federation under a faulty peer', () => {
  test('finding 1: a peer that sends past the window it was told is cut off with a reason; the rest is not read', async () => {
    const b = await node({ name: 'b1', handlers: ['M1'], users: ['bob'] }).start({ peers: { p1: { secret: SECRET } }, maxInFlight: 8 });
    const bob = await user(b, 'bob');
    const { peer, welcome } = await ScriptedPeer.open(b, 'p1');
    // 200 messages in one write, to a handler that takes 100 ms each: only the window is taken.
    const frames = [];
    for (let seq = 1; seq <= 200; seq++) frames.push(peer.sealed(ScriptedPeer.message(seq, { route: [{ sendClients: ['bob'] }], sleepMs: 100, n: seq })));
    peer.raw.write(Buffer.concat(frames));
    const refusal = await peer.next(5000, (p) => p.error !== undefined);
    assert.equal(refusal.error, 'invalid_message');
    assert.match(String(refusal.reason), /more than 8 unacknowledged messages/);
    assert.equal(b.server!.federation.counters['inbound_window'], 1);
    await new Promise((r) => setTimeout(r, 1500));
    const got = await drain(bob);
    assert.ok(got.length <= 9, `at most the window (and the one in progress) was processed, not ${got.length}`);
    assert.equal(welcome.window, 8, 'the welcome states the window');
    bob.close();
  });

  test('finding 1: an honest link of big messages is read no further than its byte budget', async () => {
    const b = await node({ name: 'b2', handlers: ['M1'] }).start({ peers: { p2: { secret: SECRET } }, maxInFlight: 16 });
    const { peer } = await ScriptedPeer.open(b, 'p2');
    // 16 messages (the window) of 900 KB: 14 MB if all were read at once.
    const blob = 'y'.repeat(900_000);
    for (let seq = 1; seq <= 16; seq++) peer.send(ScriptedPeer.message(seq, { route: [{ sendClients: [] }], sleepMs: 30, blob }));
    for (let acked = 0; acked < 16; ) {
      const ack = await peer.next(10_000, (p) => p.type === 'bester.ack');
      assert.equal(ack.status, 'ok');
      acked++;
    }
    const [link] = b.server!.federation.inboundLinks();
    assert.ok(link !== undefined);
    const bound = INBOUND_BUFFER_BYTES + 1_000_000;
    assert.ok(link.highWater.bytes <= bound, `queued at most ${bound} bytes, not ${link.highWater.bytes}`);
    peer.close();
  });

  test('finding 1: what a peer sends before its welcome is bounded by bytes too: a big flood before it is cut off', async () => {
    const b = await node({ name: 'g2', handlers: ['M1'] }).start({ peers: { g1: { secret: SECRET } } });
    const { peer: first } = await ScriptedPeer.open(b, 'g1');
    // The second link's welcome waits for the first link's message (§3.7): meanwhile it sends 400 KB.
    first.send(ScriptedPeer.message(1, { route: [{ sendClients: [] }], sleepMs: 1000 }));
    await new Promise((r) => setTimeout(r, 200));
    const second = await ScriptedPeer.connect(b, 'g1');
    const blob = 'z'.repeat(200_000);
    second.send(ScriptedPeer.message(2, { route: [{ sendClients: [] }], blob }));
    second.send(ScriptedPeer.message(3, { route: [{ sendClients: [] }], blob }));
    const refusal = await second.next(5000, (p) => p.error !== undefined);
    assert.equal(refusal.error, 'invalid_message');
    assert.match(String(refusal.reason), /before the welcome/);
    assert.equal(b.server!.federation.counters['inbound_early_frames'], 1);
    first.close();
  });

  test('finding 2: a result the link cannot carry is refused when queued; nothing behind it waits, the link does not flap', async () => {
    const limit = 65_536;
    const b = node({ name: 'c2', handlers: ['M1'], users: ['bob'], limits: { maxHandlerFrameBytes: limit } });
    await b.start({ peers: { c1: { secret: SECRET } } });
    const a = await node({ name: 'c1', handlers: ['M1'], users: ['alice'], limits: { maxHandlerFrameBytes: limit } }).start({ peers: { c2: peerOf(b) } });
    const alice = await user(a, 'alice');
    const bob = await user(b, 'bob');
    // A handler reply of exactly the limit: accepted from the handler, too big once sealed for the link.
    const route = (n: number): unknown[] => [{ sendServers: ['c2'], inflate: n }, { sendClients: ['bob'] }];
    const reply = (n: number): string =>
      JSON.stringify({ header: { status: '0', command: { type: 'sendServers', data: ['c2'] } }, data: { route: route(n).slice(1), trail: ['M1'], blob: 'x'.repeat(n) } });
    const size = limit - reply(0).length;
    assert.equal(Buffer.byteLength(reply(size)), limit);
    const started = Date.now();
    alice.send(message('M1', 'big', { route: route(size) }));
    // Data nested 62 levels: 64 in the handler's reply (the limit), 65 in the link frame.
    alice.send(message('M1', 'deep', { route: [{ sendServers: ['c2'], deepen: 62 }, { sendClients: ['bob'] }] }));
    alice.send(message('M1', 'after', { route: [{ sendServers: ['c2'] }, { sendClients: ['bob'] }], n: 3 }));
    const reports = [(await alice.next(5000)) as Frame, (await alice.next(5000)) as Frame, (await alice.next(5000)) as Frame];
    assert.deepEqual(reports.map((r) => [r.payload.id, r.header.status, r.header.code ?? null]), [
      ['big', 'bad', 'peer_undeliverable'],
      ['deep', 'bad', 'peer_undeliverable'],
      ['after', 'good', null],
    ]);
    assert.match(String(reports[0]!.header.reason), /bytes; the peer reads at most 65536/);
    assert.match(String(reports[1]!.header.reason), /deeper than 64 levels/);
    assert.ok(Date.now() - started < 3000, 'told at once');
    const got = (await bob.next(5000)) as Frame;
    assert.equal((got.payload.data as { n: number }).n, 3, 'the message behind them is delivered');
    await new Promise((r) => setTimeout(r, 1000));
    const ups = a.log.lines.filter((l) => l.msg === 'peer link up').length;
    assert.equal(ups, 1, 'one connection, no reconnects');
    alice.close();
    bob.close();
  });

  test("finding 2: a message over the limits the peer's welcome states is reported undeliverable, not resent forever", async () => {
    const b = node({ name: 'h2', handlers: ['M1'], users: ['bob'], limits: { maxHandlerFrameBytes: 32_768 } });
    await b.start({ peers: { h1: { secret: SECRET } } });
    const a = await node({ name: 'h1', handlers: ['M1'], users: ['alice'] }).start({ peers: { h2: peerOf(b) } });
    const alice = await user(a, 'alice');
    const bob = await user(b, 'bob');
    alice.send(message('M1', 'fits-here', { route: [{ sendServers: ['h2'], inflate: 40_000 }, { sendClients: ['bob'] }] }));
    alice.send(message('M1', 'small', { route: [{ sendServers: ['h2'] }, { sendClients: ['bob'] }], n: 2 }));
    const frames = [(await alice.next(5000)) as Frame, (await alice.next(5000)) as Frame, (await alice.next(5000)) as Frame];
    const notice = frames.find((f) => f.payload.type === 'bester.federation');
    assert.ok(notice, JSON.stringify(frames));
    const d = notice.payload.data as { event: string; id: string; reason: string };
    assert.equal(d.event, 'undeliverable');
    assert.equal(d.id, 'fits-here');
    assert.match(d.reason, /the peer reads at most 32768/);
    assert.equal((((await bob.next(5000)) as Frame).payload.data as { n: number }).n, 2, 'the message behind it is delivered');
    assert.equal(a.log.lines.filter((l) => l.msg === 'peer link up').length, 1);
    alice.close();
    bob.close();
  });

  test('finding 4: a second link from the same peer is welcomed only once the first one\'s message is settled: no message runs twice', async () => {
    const b = await node({ name: 'd2', handlers: ['M1'], users: ['bob'] }).start({ peers: { d1: { secret: SECRET } } });
    const bob = await user(b, 'bob');
    const { peer: first } = await ScriptedPeer.open(b, 'd1');
    first.send(ScriptedPeer.message(1, { route: [{ sendClients: ['bob'] }], sleepMs: 800, n: 1 }));
    await new Promise((r) => setTimeout(r, 200));
    const second = await ScriptedPeer.connect(b, 'd1');
    const welcome = await second.next(5000, (p) => p.type === 'bester.welcome');
    assert.equal(welcome.lastSeq, 1, 'the welcome waited for seq 1 to be settled');
    assert.equal(await first.raw.waitClosed(), true, 'the replaced link is closed');
    second.send(ScriptedPeer.message(1, { route: [{ sendClients: ['bob'] }], n: 1 }));
    const ack = await second.next(5000, (p) => p.type === 'bester.ack');
    assert.equal(ack.status, 'duplicate');
    second.send(ScriptedPeer.message(2, { route: [{ sendClients: ['bob'] }], n: 2 }));
    assert.equal((await second.next(5000, (p) => p.type === 'bester.ack')).status, 'ok');
    const got = await drain(bob, 500);
    assert.deepEqual(got.map((f) => (f.payload.data as { n: number }).n), [1, 2], 'each message once');
    second.close();
    bob.close();
  });

  test('finding 5: envelopes name the origin server of every message; a peer\'s sender must be a username', async () => {
    const b = node({ name: 'e2', handlers: ['M1'], users: ['bob', 'carol'], envelope: ['M1'] });
    await b.start({ peers: { e1: { secret: SECRET }, e3: { secret: SECRET } } });
    const a = await node({ name: 'e1', handlers: ['M1'], users: ['alice'] }).start({ peers: { e2: peerOf(b) } });
    const alice = await user(a, 'alice');
    const bob = await user(b, 'bob');
    const carol = await user(b, 'carol');
    alice.send(message('M1', 'remote', { route: [{ sendServers: ['e2'] }, { sendClients: ['bob'] }] }));
    assert.equal(((await alice.next(5000)) as Frame).header.status, 'good');
    const remote = (await bob.next(5000)) as Frame;
    assert.deepEqual((remote.payload.data as { seen: unknown[] }).seen, [{ sender: 'alice', origin: 'e1' }]);
    carol.send(message('M1', 'local', { route: [{ sendClients: ['bob'] }] }));
    const local = (await bob.next(5000)) as Frame;
    assert.deepEqual((local.payload.data as { seen: unknown[] }).seen, [{ sender: 'carol', origin: 'e2' }], 'local messages name this server');

    const { peer } = await ScriptedPeer.open(b, 'e3');
    peer.send(ScriptedPeer.message(1, { route: [{ sendClients: ['bob'] }] }, { sender: ' alice\n', origin: 'e3' }));
    const ack = await peer.next(5000, (p) => p.type === 'bester.ack');
    assert.equal(ack.status, 'refused');
    assert.match(String(ack.reason), /not a username|canonical/);
    assert.equal(b.server!.federation.counters['inbound_bad_sender'], 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bob.queued, 0, 'the refused message reached nobody');
    peer.close();
    alice.close();
    bob.close();
    carol.close();
  });

  test('the peer.link event follows a link through its states', async () => {
    const b = await node({ name: 'v2', handlers: ['M1'] }).start({ peers: { v1: { secret: SECRET } } });
    const a = await node({ name: 'v1', handlers: ['M1'], users: ['alice'] }).start({ peers: { v2: peerOf(b) } });
    const states: string[] = [];
    a.server!.events.on('peer.link', (e) => states.push(`${e.peer}:${e.state}`));
    const alice = await user(a, 'alice');
    alice.send(message('M1', 'x', { route: [{ sendServers: ['v2'] }] }));
    await alice.next(5000);
    await waitFor(() => states.includes('v2:up'), 5000, 'the link to come up');
    await b.stop();
    await waitFor(() => states.includes('v2:backoff'), 5000, 'the link to go down');
    assert.deepEqual(states.slice(0, 3), ['v2:connecting', 'v2:up', 'v2:backoff']);
    alice.close();
  });
});
