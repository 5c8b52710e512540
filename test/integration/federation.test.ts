// Federation between real daemons on loopback (docs/federation.md): the original author's
// topology, durable queueing across a peer outage and a sender restart, refused spoofs and
// replays, loops, expiry and caps, and the original's one-message-per-connection mode.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { encodeJsonFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import { HELLO, seal } from '../../src/protocol/federation.ts';
import { loggedIn, message, RawClient } from '../helpers/raw-client.ts';
import { peerOf, SECRET, TestNode, waitFor } from '../helpers/federation.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

async function user(node: TestNode, name: string): Promise<RawClient> {
  const { client, answer } = await loggedIn({ port: node.port }, name, `${name}-pw`);
  assert.equal((answer as Frame).header.status, 'good');
  return client;
}

const nodes: TestNode[] = [];
function node(spec: ConstructorParameters<typeof TestNode>[0]): TestNode {
  const n = new TestNode(spec);
  nodes.push(n);
  return n;
}
after(async () => {
  for (const n of nodes) await n.destroy();
});

describe('federation', () => {
  test("the author's topology: U1@S1 -> M1 -> M2 -> S2's M1 -> S3's M1 -> U2, once", async () => {
    const s3 = await node({ name: 's3', handlers: ['M1'], users: ['u2'] }).start({ peers: { s2: { secret: SECRET } } });
    const s2 = node({ name: 's2', handlers: ['M1'] });
    await s2.start({ peers: { s3: peerOf(s3), s1: { secret: SECRET } } });
    const s1 = await node({ name: 's1', handlers: ['M1', 'M2'], users: ['u1'] }).start({ peers: { s2: peerOf(s2) } });

    const u2 = await user(s3, 'u2');
    const u1 = await user(s1, 'u1');
    const route = [{ sendHandler: 'M2' }, { sendServers: ['s2'] }, { sendServers: ['s3'] }, { sendClients: ['u2'] }];
    u1.send(message('M1', 'topo-1', { route, text: 'hello across three servers' }));

    const report = (await u1.next(10_000)) as Frame;
    assert.equal(report.header.status, 'good', JSON.stringify(report));
    assert.equal(report.payload.id, 'topo-1');
    assert.deepEqual(report.header.servers, { s2: 'delivered' });

    const got = (await u2.next(10_000)) as Frame;
    assert.equal(got.header.messageType, 'receivedMessage');
    assert.equal(got.payload.type, 'M1', 'the message type the client sent travels between servers');
    const data = got.payload.data as { text: string; trail: string[]; route: unknown[] };
    assert.equal(data.text, 'hello across three servers');
    assert.deepEqual(data.trail, ['M1', 'M2', 'M1', 'M1']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(u2.queued, 0, 'delivered exactly once');
    u1.close();
    u2.close();
  });

  test('peer down: messages are queued durably, survive a sender restart, and arrive in order, once', async () => {
    const s2 = node({ name: 'q2', handlers: ['M1'], users: ['bob'] });
    await s2.start({ peers: { q1: { secret: SECRET } } });
    await s2.stop(); // down from the start; its port is known
    const s1 = await node({ name: 'q1', handlers: ['M1'], users: ['alice'] }).start({ peers: { q2: peerOf(s2) } });

    const alice = await user(s1, 'alice');
    const route = [{ sendServers: ['q2'] }, { sendClients: ['bob'] }];
    for (let i = 1; i <= 6; i++) {
      alice.send(message('M1', `q-${i}`, { route, n: i }));
      const r = (await alice.next(5000)) as Frame;
      assert.equal(r.header.status, 'good');
      assert.deepEqual(r.header.servers, { q2: 'queued' }, 'the sender learns it was queued');
    }
    alice.close();
    assert.equal(s1.server!.federation.status().waiting['q2'], 6);

    // The sending daemon restarts while everything waits.
    await s1.stop();
    await s1.start({ peers: { q2: peerOf(s2) } });
    assert.equal(s1.server!.federation.status().waiting['q2'], 6, 'nothing lost across the restart');

    await s2.start({ peers: { q1: { secret: SECRET } } });
    await waitFor(() => s1.server!.federation.status().waiting['q2'] === undefined, 15_000, 'the outbox to drain');
    // What q2 carried out, from its log: every message once, in the order sent.
    const processed = s2.log.lines
      .filter((l) => l.msg === 'peer message carried out' || l.msg === 'peer message failed here')
      .map((l) => l.id);
    assert.deepEqual(processed, ['q-1', 'q-2', 'q-3', 'q-4', 'q-5', 'q-6']);
    assert.equal(s2.server!.federation.counters['inbound_duplicate'] ?? 0, 0);

    // And end to end: bob was offline, so q2 kept 1-6 for him (docs/protocol.md §4.3.1.1); online, he gets 7-9 after them.
    const bob = await user(s2, 'bob');
    const bobAlice = await user(s1, 'alice');
    for (const n of [7, 8, 9]) {
      bobAlice.send(message('M1', `q-${n}`, { route, n }));
      await bobAlice.next(5000);
    }
    const seen: number[] = [];
    for (let i = 0; i < 9; i++) seen.push((((await bob.next(5000)) as Frame).payload.data as { n: number }).n);
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(bob.queued, 0, 'once');
    bob.close();
    bobAlice.close();
  });

  test('a spoofed or replayed server-scope frame is refused with a logged reason', async () => {
    const s2 = await node({ name: 'r2', handlers: ['M1'], users: ['bob'] }).start({ peers: { r1: { secret: SECRET } } });
    const frames = async (first: unknown, ...rest: unknown[]): Promise<Frame[]> => {
      const socket = net.connect({ port: s2.port, host: '127.0.0.1' });
      const got: Frame[] = [];
      const decoder = new FrameDecoder({ frame: (b) => got.push(parseFrameJson(b) as Frame), error: () => undefined }, 1 << 20);
      socket.on('data', (c: Buffer) => decoder.push(c));
      socket.on('error', () => undefined);
      const { encodeFrame } = await import('../../src/protocol/frame.ts');
      for (const f of [first, ...rest]) socket.write(encodeFrame(f));
      await new Promise<void>((resolve) => {
        socket.on('close', () => resolve());
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 1500);
      });
      return got;
    };

    // Wrong secret: refused.
    const spoof = await frames(seal('not-the-shared-secret-at-all!!', 'r1', 'r2', { type: HELLO, id: 'hello' }, { first: true }));
    assert.equal(spoof[0]?.header.code, 'peer_auth_failed');
    // An unknown peer name: refused.
    const stranger = await frames(seal(SECRET, 'mallory', 'r2', { type: HELLO, id: 'hello' }, { first: true }));
    assert.equal(stranger[0]?.header.code, 'peer_auth_failed');

    // A genuine link delivers; replaying its frames (same nonces) on a new connection is refused.
    const bob = await user(s2, 'bob');
    const hello = seal(SECRET, 'r1', 'r2', { type: HELLO, id: 'hello' }, { first: true });
    const msg = seal(SECRET, 'r1', 'r2', { type: 'M1', id: 'x1', data: { route: [{ sendClients: ['bob'] }], n: 1 }, origin: 'r1', seq: 1, hops: 1, sender: 'alice' });
    const genuine = await frames(hello, msg);
    assert.equal(genuine[0]?.payload.type, 'bester.welcome');
    assert.equal(((await bob.next(5000)) as Frame).payload.type, 'M1');
    const replayHello = await frames(hello);
    assert.equal(replayHello[0]?.header.code, 'peer_replay');
    const freshHello = seal(SECRET, 'r1', 'r2', { type: HELLO, id: 'hello' }, { first: true });
    const replayMsg = await frames(freshHello, msg);
    assert.equal(replayMsg[1]?.header.code, 'peer_replay');
    // A frame altered after sealing: refused.
    const altered = seal(SECRET, 'r1', 'r2', { type: 'M1', id: 'x2', data: { n: 2 }, origin: 'r1', seq: 2, hops: 1, sender: 'alice' });
    (altered.payload as Record<string, unknown>).data = { n: 666 };
    const tampered = await frames(seal(SECRET, 'r1', 'r2', { type: HELLO, id: 'hello' }, { first: true }), altered);
    assert.equal(tampered[1]?.header.code, 'peer_auth_failed');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(bob.queued, 0, 'nothing refused reached the user');
    bob.close();

    const refusals = s2.log.lines.filter((l) => l.msg === 'peer frame refused').map((l) => String(l.reason));
    assert.ok(refusals.some((r) => /bad MAC/.test(r)), refusals.join(' | '));
    assert.ok(refusals.some((r) => /unknown peer "mallory"/.test(r)));
    assert.ok(refusals.filter((r) => /replayed/.test(r)).length >= 2);
    assert.ok((s2.server!.federation.counters['inbound_replay'] ?? 0) >= 2);
  });

  test('loops: a message that comes back to its origin is dropped, and so is one over the hop limit', async () => {
    const b = node({ name: 'l2', handlers: ['M1'] });
    await b.start({ peers: { l1: { secret: SECRET } } });
    await b.stop();
    const a = await node({ name: 'l1', handlers: ['M1'], users: ['alice'] }).start({ peers: { l2: peerOf(b) }, maxHops: 3 });
    await b.start({ peers: { l1: peerOf(a) }, maxHops: 3 });
    const alice = await user(a, 'alice');
    // l1 -> l2 -> l1: the echo is dropped at l1.
    alice.send(message('M1', 'echo', { route: [{ sendServers: ['l2'] }, { sendServers: ['l1'] }, { sendClients: ['alice'] }] }));
    assert.equal(((await alice.next(5000)) as Frame).header.status, 'good');
    await waitFor(() => (a.server!.federation.counters['inbound_own_echo'] ?? 0) === 1, 10_000, 'the echo to be dropped');
    assert.equal(alice.queued, 0);

    // A message that has crossed more servers than maxHops is dropped (sealed by hand as l2 would).
    const raw = await RawClient.connect({ port: a.port });
    raw.send(seal(SECRET, 'l2', 'l1', { type: HELLO, id: 'hello' }, { first: true }));
    assert.equal(((await raw.next(5000)) as Frame).payload.type, 'bester.welcome');
    raw.send(seal(SECRET, 'l2', 'l1', { type: 'M1', id: 'far', data: { route: [{ sendClients: ['alice'] }] }, origin: 'elsewhere', seq: 1000, hops: 4, sender: null }));
    const ack = (await raw.next(5000)) as Frame;
    assert.equal(ack.payload.type, 'bester.ack');
    assert.equal(a.server!.federation.counters['inbound_hop_limit'], 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(alice.queued, 0, 'the dropped message reached nobody');
    raw.close();
    alice.close();
  });

  test('a message that waits past its TTL is reported to its sender; a full outbox refuses at once', async () => {
    const b = node({ name: 't2', handlers: ['M1'] });
    await b.start({ peers: { t1: { secret: SECRET } } });
    await b.stop();
    const a = await node({ name: 't1', handlers: ['M1'], users: ['alice'] }).start({ peers: { t2: peerOf(b) }, outboxTtlMs: 1500, outboxCap: 2, ackWaitMs: 100 });
    const alice = await user(a, 'alice');
    const route = [{ sendServers: ['t2'] }];
    for (const id of ['t-1', 't-2']) {
      alice.send(message('M1', id, { route }));
      assert.equal(((await alice.next(5000)) as Frame).header.status, 'good');
    }
    alice.send(message('M1', 't-3', { route }));
    const full = (await alice.next(5000)) as Frame;
    assert.equal(full.header.status, 'bad');
    assert.equal(full.header.code, 'peer_queue_full');
    const notices: Frame[] = [(await alice.next(10_000)) as Frame, (await alice.next(10_000)) as Frame];
    for (const n of notices) {
      assert.equal(n.payload.type, 'bester.federation');
      const d = n.payload.data as { event: string; server: string; id: string };
      assert.equal(d.event, 'undeliverable');
      assert.equal(d.server, 't2');
    }
    assert.deepEqual(notices.map((n) => (n.payload.data as { id: string }).id).sort(), ['t-1', 't-2']);
    alice.close();
  });

  test('a peer that answers our link with JSON nested too deeply is dropped with a logged reason, before it is parsed', async () => {
    let hellos = 0;
    const hostile = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => {
        hellos++;
        socket.write(encodeJsonFrame(`${'['.repeat(5000)}${']'.repeat(5000)}`));
      });
    });
    await new Promise<void>((r) => hostile.listen(0, '127.0.0.1', r));
    const port = (hostile.address() as net.AddressInfo).port;
    const a = await node({ name: 'd1', handlers: ['M1'], users: ['alice'] }).start({ peers: { deep: { address: `127.0.0.1:${port}`, secret: SECRET } } });
    const alice = await user(a, 'alice');
    alice.send(message('M1', 'to-deep', { route: [{ sendServers: ['deep'] }] }));
    const report = (await alice.next(5000)) as Frame;
    assert.equal(report.header.status, 'good', 'kept in the outbox meanwhile');
    await waitFor(() => a.log.lines.some((l) => l.msg === 'dropping peer link' && /deeper than 64 levels/.test(String(l.reason))), 5000, 'the drop to be logged');
    assert.ok(hellos >= 1);
    alice.close();
    hostile.close();
  });

  test("legacy mode: to and from a peer that speaks the original's one message per connection", async () => {
    // An original daemon's receiving side: reads one frame per connection.
    const received: unknown[] = [];
    const original = net.createServer((socket) => {
      socket.on('error', () => undefined);
      const d = new FrameDecoder({ frame: (b) => received.push(parseFrameJson(b)), error: () => socket.destroy() }, 1 << 20);
      socket.on('data', (c: Buffer) => d.push(c));
    });
    await new Promise<void>((r) => original.listen(0, '127.0.0.1', r));
    const port = (original.address() as net.AddressInfo).port;
    const a = await node({ name: 'g1', handlers: ['M1'], users: ['alice', 'bob'] }).start({
      peers: { old: { address: `127.0.0.1:${port}`, legacy: true } },
      acceptUnauthenticatedServers: true,
    });
    const alice = await user(a, 'alice');
    alice.send(message('M1', 'legacy-out', { route: [{ sendServers: [`127.0.0.1:${port}`] }], text: 'to the old world' }));
    assert.equal(((await alice.next(5000)) as Frame).header.status, 'good');
    await waitFor(() => received.length === 1, 5000, 'the original daemon to receive');
    const frame = received[0] as Frame;
    assert.deepEqual(frame.header, { scope: 'server' });
    assert.equal(frame.payload.type, 'M1');
    assert.equal(frame.payload.id, 'legacy-out', 'we include the id the original left out');
    assert.equal((frame.payload.data as { text: string }).text, 'to the old world');

    // And an original daemon sending to us: one unauthenticated message, no id.
    const bob = await user(a, 'bob');
    const raw = await RawClient.connect({ port: a.port });
    raw.send({ header: { scope: 'server' }, payload: { type: 'M1', data: { route: [{ sendClients: ['bob'] }], text: 'from the old world' } } });
    const got = (await bob.next(5000)) as Frame;
    assert.equal((got.payload.data as { text: string }).text, 'from the old world');
    assert.equal(await raw.waitClosed(), true, 'one message per connection');
    alice.close();
    bob.close();
    original.close();
  });
});
