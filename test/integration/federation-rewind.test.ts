// Federation sequence numbers and reports under faults (issue 15, findings 3, 6 and 7), with real
// daemons, a scripted peer and a scripted receiver: a sender restored from a backup, a peer pushing
// the count ahead, a receiver claiming an impossible lastSeq, a down peer under a pipelining sender,
// and in-flight messages that expire.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { FAULT_HANDLER, peerOf, ScriptedPeer, ScriptedReceiver, SECRET, TestNode, waitFor } from '../helpers/federation.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

async function user(node: TestNode, name: string): Promise<RawClient> {
  const { client, answer } = await loggedIn({ port: node.port }, name, `${name}-pw`);
  assert.equal((answer as Frame).header.status, 'good');
  return client;
}

const nodes: TestNode[] = [];
const closers: Array<() => void> = [];
function node(spec: ConstructorParameters<typeof TestNode>[0]): TestNode {
  const n = new TestNode({ script: FAULT_HANDLER, ...spec });
  nodes.push(n);
  return n;
}
after(async () => {
  for (const close of closers) close();
  for (const n of nodes) await n.destroy();
});

/** Sends `ids` one after another (each report awaited); resolves with the reports' `servers`. */
async function sendAll(client: RawClient, ids: number[], route: unknown[]): Promise<unknown[]> {
  const servers: unknown[] = [];
  for (const n of ids) {
    client.send(message('M1', `m-${n}`, { route, n }));
    const r = (await client.next(5000)) as Frame;
    assert.equal(r.header.status, 'good', JSON.stringify(r));
    servers.push(r.header.servers);
  }
  return servers;
}

async function received(client: RawClient, count: number, timeoutMs = 10_000): Promise<number[]> {
  const got: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < count && Date.now() < deadline) {
    const f = (await client.next(Math.max(1, deadline - Date.now())).catch(() => null)) as Frame | null;
    if (f === null) break;
    got.push((f.payload.data as { n: number }).n);
  }
  return got;
}

const DB_FILES = /\.db(-wal|-shm)?$/;
function copyDb(from: string, to: string): void {
  for (const f of readdirSync(to)) if (DB_FILES.test(f)) rmSync(path.join(to, f));
  for (const f of readdirSync(from)) if (DB_FILES.test(f)) copyFileSync(path.join(from, f), path.join(to, f));
}

describe('federation sequence numbers and reports under faults', () => {
  test('finding 3: a sender restored from a backup loses nothing; the rewound seqs are detected and counted', async () => {
    const r2 = await node({ name: 'r2', handlers: ['M1'], users: ['bob'] }).start({ peers: { r1: { secret: SECRET } } });
    const r1 = node({ name: 'r1', handlers: ['M1'], users: ['alice'] });
    await r1.start({ peers: { r2: peerOf(r2) } });
    const bob = await user(r2, 'bob');
    const route = [{ sendServers: ['r2'] }, { sendClients: ['bob'] }];
    let alice = await user(r1, 'alice');
    await sendAll(alice, [1, 2, 3, 4, 5], route);
    assert.deepEqual(await received(bob, 5), [1, 2, 3, 4, 5]);
    alice.close();
    // The backup: r1's SQLite file as it is now.
    await r1.stop();
    const backup = path.join(r1.dir, 'backup');
    rmSync(backup, { recursive: true, force: true });
    (await import('node:fs')).mkdirSync(backup);
    copyDb(r1.dir, backup);
    await r1.start({ peers: { r2: peerOf(r2) } });
    alice = await user(r1, 'alice');
    await sendAll(alice, Array.from({ length: 20 }, (_, i) => 6 + i), route);
    assert.equal((await received(bob, 20)).length, 20);
    alice.close();
    // Restored: the seqs given since the backup are given again.
    await r1.stop();
    copyDb(backup, r1.dir);
    await r1.start({ peers: { r2: peerOf(r2) } });
    alice = await user(r1, 'alice');
    const ids = Array.from({ length: 30 }, (_, i) => 26 + i);
    await sendAll(alice, ids, route);
    assert.deepEqual(await received(bob, 30), ids, 'all 30 delivered, in order');
    assert.ok((r1.server!.federation.counters['seq_diverged'] ?? 0) >= 1, 'detected and counted');
    assert.ok(r1.log.lines.some((l) => /cannot vouch for/.test(String(l.msg))), 'and logged');
    alice.close();
    bob.close();
  });

  test('finding 3: a peer that pushes the count far ahead does not make later real messages duplicates', async () => {
    const j2 = await node({ name: 'j2', handlers: ['M1'], users: ['bob'] }).start({ peers: { j1: { secret: SECRET } } });
    const j1 = await node({ name: 'j1', handlers: ['M1'], users: ['alice'] }).start({ peers: { j2: peerOf(j2) } });
    const bob = await user(j2, 'bob');
    const { peer } = await ScriptedPeer.open(j2, 'j1');
    peer.send(ScriptedPeer.message(1_000_000_000, { route: [{ sendClients: ['bob'] }], n: 0 }, { origin: 'j1' }));
    assert.equal((await peer.next(5000, (p) => p.type === 'bester.ack')).status, 'ok');
    assert.deepEqual(await received(bob, 1), [0]);
    peer.close();
    const alice = await user(j1, 'alice');
    const ids = Array.from({ length: 10 }, (_, i) => 1 + i);
    await sendAll(alice, ids, [{ sendServers: ['j2'] }, { sendClients: ['bob'] }]);
    assert.deepEqual(await received(bob, 10), ids, 'bob got every real message');
    assert.equal(j2.server!.federation.counters['inbound_duplicate'] ?? 0, 0, 'none taken as a duplicate');
    assert.ok((j1.server!.federation.counters['seq_diverged'] ?? 0) >= 1);
    alice.close();
    bob.close();
  });

  test('finding 3: a receiver claiming an impossible lastSeq does not make the sender report a message it never sent', async () => {
    const liar = await ScriptedReceiver.start('liar', 'k1');
    closers.push(() => liar.close());
    liar.lastSeq = 1e12;
    liar.ack = false;
    const k1 = await node({ name: 'k1', handlers: ['M1'], users: ['alice'] }).start({
      peers: { liar: { address: liar.address, secret: SECRET } },
      ackWaitMs: 500,
    });
    const alice = await user(k1, 'alice');
    const [servers] = await sendAll(alice, [1], [{ sendServers: ['liar'] }]);
    assert.deepEqual(servers, { liar: 'queued' }, 'not "delivered"');
    await waitFor(() => liar.received.length === 1, 5000, 'the message to be sent after all');
    assert.ok((liar.received[0]!.seq as number) > 1e12, 'numbered past what the receiver claims');
    assert.equal(k1.server!.federation.status().waiting['liar'], 1, 'still waiting for a real acknowledgement');
    alice.close();
  });

  test('a message the peer refuses is reported undeliverable to its sender, not taken as acknowledged', async () => {
    const picky = await ScriptedReceiver.start('picky', 'n1');
    closers.push(() => picky.close());
    picky.ackStatus = 'refused';
    const n1 = await node({ name: 'n1', handlers: ['M1'], users: ['alice'] }).start({ peers: { picky: { address: picky.address, secret: SECRET } } });
    const alice = await user(n1, 'alice');
    alice.send(message('M1', 'no', { route: [{ sendServers: ['picky'] }] }));
    const frames = [(await alice.next(5000)) as Frame, (await alice.next(5000)) as Frame];
    const notice = frames.find((f) => f.payload.type === 'bester.federation');
    assert.ok(notice, JSON.stringify(frames));
    const d = notice.payload.data as { event: string; id: string; reason: string };
    assert.deepEqual([d.event, d.id], ['undeliverable', 'no']);
    assert.match(d.reason, /refused it: scripted refusal/);
    alice.close();
  });

  test('finding 6: a down peer does not hold up the reports of a pipelining sender', async () => {
    const down = net.createServer();
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
    const port = (down.address() as net.AddressInfo).port;
    await new Promise<void>((r) => down.close(() => r()));
    const f1 = await node({ name: 'f1', handlers: ['M1'], users: ['alice'] }).start({
      peers: { f2: { address: `127.0.0.1:${port}`, secret: SECRET } },
      ackWaitMs: 1000,
    });
    const alice = await user(f1, 'alice');
    const started = Date.now();
    for (let i = 1; i <= 10; i++) alice.send(message('M1', `p-${i}`, { route: [{ sendServers: ['f2'] }] }));
    const reports: Frame[] = [];
    for (let i = 0; i < 10; i++) reports.push((await alice.next(10_000)) as Frame);
    const ms = Date.now() - started;
    assert.deepEqual(reports.map((r) => r.payload.id), Array.from({ length: 10 }, (_, i) => `p-${i + 1}`), 'in order');
    assert.ok(reports.every((r) => (r.header.servers as Record<string, string>)['f2'] === 'queued'));
    assert.ok(ms < 1500, `10 reports took ${ms} ms`);
    alice.close();
  });

  test('finding 7: in-flight messages that expire free their place in the window', async () => {
    const mute = await ScriptedReceiver.start('mute', 'g1');
    closers.push(() => mute.close());
    mute.ack = false;
    const g1 = await node({ name: 'g1', handlers: ['M1'], users: ['alice'] }).start({
      peers: { mute: { address: mute.address, secret: SECRET } },
      maxInFlight: 5,
      outboxTtlMs: 1000,
      ackWaitMs: 100,
    });
    const alice = await user(g1, 'alice');
    const route = [{ sendServers: ['mute'] }];
    await sendAll(alice, [1, 2, 3, 4, 5], route);
    await waitFor(() => mute.received.length === 5, 5000, 'the window to be sent');
    // They expire unacknowledged (their senders are told); the link stays up.
    for (let i = 0; i < 5; i++) assert.equal(((await alice.next(10_000)) as Frame).payload.type, 'bester.federation');
    mute.ack = true;
    await sendAll(alice, [6, 7, 8, 9, 10], route);
    await waitFor(() => mute.received.length === 10, 5000, 'the next five to be sent');
    assert.deepEqual(mute.received.slice(5).map((p) => (p.data as { n: number }).n), [6, 7, 8, 9, 10]);
    assert.ok(existsSync(g1.dir));
    alice.close();
  });
});
