// Finding 0 of issue 15 (slow: about 30 s): the receiving daemon is killed with kill -9 at 20
// points of a stream of messages, and restarted; every message whose report said the peer had
// acknowledged it ("delivered") must reach bob, and every message must reach him at least once.
// The receiver runs in its own process (with its handlers); the sender runs in this one.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { ChildNode, peerOf, SECRET, TestNode, waitFor } from '../helpers/federation.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

const KILL_POINTS = 20;
const BATCH = 5;

const receiver = new ChildNode('kr', { handlers: ['M1'], federation: { peers: { ks: { secret: SECRET } } } });
const sender = new TestNode({ name: 'ks', handlers: ['M1'], users: ['alice'] });
after(async () => {
  await sender.destroy();
  await receiver.destroy();
});

test('kill -9 of the receiver at 20 points of a stream: no acknowledged message is lost', async (t) => {
  await receiver.addUsers(['bob']);
  await receiver.start();
  await sender.start({ peers: { kr: peerOf(receiver as unknown as TestNode) }, ackWaitMs: 1000 });
  const alice = (await loggedIn({ port: sender.port }, 'alice', 'alice-pw')).client;
  const seen = new Map<number, number>();
  let bob: RawClient | null = null;
  let reading: Promise<void> = Promise.resolve();
  const connectBob = async (): Promise<void> => {
    await reading;
    const { client, answer } = await loggedIn({ port: receiver.port }, 'bob', 'bob-pw');
    assert.equal((answer as Frame).header.status, 'good');
    bob = client;
    reading = (async () => {
      for (let i = 0; i < 100_000; i++) {
        const f = (await client.next(60_000).catch(() => null)) as Frame | null;
        if (f === null) return;
        const n = (f.payload.data as { n?: number } | undefined)?.n;
        if (typeof n === 'number') seen.set(n, (seen.get(n) ?? 0) + 1);
      }
    })();
  };
  await connectBob();

  const acknowledged: number[] = [];
  let next = 1;
  const route = [{ sendServers: ['kr'] }, { sendClients: ['bob'] }];
  // One at a time: each report waits for the receiver's acknowledgement ("delivered").
  const batch = async (): Promise<void> => {
    for (let i = 0; i < BATCH; i++) {
      const n = next++;
      alice.send(message('M1', `k-${n}`, { route, n }));
      const r = (await alice.next(10_000)) as Frame;
      assert.equal(r.header.status, 'good', JSON.stringify(r));
      if ((r.header.servers as Record<string, string>)['kr'] === 'delivered') acknowledged.push(n);
    }
  };
  for (let kill = 0; kill < KILL_POINTS; kill++) {
    await batch();
    // Killed while the receiver works through a stream: after 1 to 5 of its reports came back.
    const stream: number[] = [];
    for (let i = 0; i < 2 * BATCH; i++) stream.push(next++);
    for (const n of stream) alice.send(message('M1', `k-${n}`, { route, n }));
    const reports: Frame[] = [];
    for (let i = 0; i < 1 + (kill % 5); i++) reports.push((await alice.next(10_000)) as Frame);
    await receiver.kill();
    for (let i = reports.length; i < stream.length; i++) reports.push((await alice.next(10_000)) as Frame);
    for (const [i, r] of reports.entries()) if ((r.header.servers as Record<string, string>)['kr'] === 'delivered') acknowledged.push(stream[i]!);
    await receiver.start();
    await connectBob();
  }
  await batch();
  await waitFor(() => sender.server!.federation.status().waiting['kr'] === undefined, 30_000, 'the outbox to drain');
  const total = next - 1;
  await waitFor(() => seen.size === total, 10_000, `bob to have all ${total} messages`).catch(() => undefined);
  const lostAcknowledged = acknowledged.filter((n) => !seen.has(n));
  const lost = Array.from({ length: total }, (_, i) => i + 1).filter((n) => !seen.has(n));
  const duplicates = [...seen.values()].filter((c) => c > 1).length;
  t.diagnostic(`${total} messages, ${acknowledged.length} reported delivered, ${KILL_POINTS} kill points: ${lostAcknowledged.length} acknowledged lost, ${lost.length} lost, ${duplicates} delivered twice`);
  assert.deepEqual(lostAcknowledged, [], 'no acknowledged message lost');
  assert.deepEqual(lost, [], 'no message lost');
  alice.close();
  (bob as RawClient | null)?.close();
  await reading;
});
