// Federation peers changed by a reload (docs/federation.md, "Reloading peers"): a peer added to a
// running daemon is reached at once, a removed one is refused again, and a changed secret takes
// effect on both links. Real daemons on loopback.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { peerOf, SECRET, TestNode, waitFor } from '../helpers/federation.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

const nodes: TestNode[] = [];
after(async () => {
  for (const n of nodes) await n.destroy();
});

async function user(node: TestNode, name: string): Promise<RawClient> {
  const { client, answer } = await loggedIn({ port: node.port }, name, `${name}-pw`);
  assert.equal((answer as Frame).header.status, 'good');
  return client;
}

test('peers added, changed and removed by a reload, with the sender connected throughout', async () => {
  const receiver = new TestNode({ name: 'r', handlers: ['M1'], users: ['bob'] });
  const sender = new TestNode({ name: 's', handlers: ['M1'], users: ['alice'] });
  nodes.push(receiver, sender);
  await receiver.start({ peers: { s: { secret: SECRET } } });
  await sender.start({ peers: {} });
  const alice = await user(sender, 'alice');
  const bob = await user(receiver, 'bob');
  let n = 0;
  const send = async (): Promise<Frame> => {
    alice.send(message('M1', `m${++n}`, { route: [{ sendServers: ['r'] }, { sendClients: ['bob'] }], n }));
    return (await alice.next(10_000)) as Frame;
  };

  const before = await send();
  assert.equal(before.header.status, 'bad');
  assert.equal(before.header.code, 'unknown_peer');

  // Added: the next message goes out on a new link and is delivered.
  const added = await sender.reload({ peers: { r: peerOf(receiver) } });
  assert.ok(added.ok);
  assert.deepEqual(added.applied, ['federation.peers.r']);
  const first = await send();
  assert.equal(first.header.status, 'good', JSON.stringify(first));
  assert.equal(((await bob.next(10_000)) as Frame & { payload: { data: { n: number } } }).payload.data.n, n, 'bob got the message sent after the peer was added');

  // Changed on both sides (a new secret): the old links close, new ones carry the next message.
  const secret = 'a-new-federation-secret-0123456789';
  assert.ok((await receiver.reload({ peers: { s: { secret } } })).ok);
  assert.ok((await sender.reload({ peers: { r: peerOf(receiver, { secret }) } })).ok);
  const second = await send();
  assert.equal(second.header.status, 'good', JSON.stringify(second));
  assert.equal(((await bob.next(10_000)) as Frame & { payload: { data: { n: number } } }).payload.data.n, n, 'the message sent after the change arrived');
  await waitFor(() => sender.server!.federation.status().links.r === 'up', 5000, 'the new link is up');

  // Removed: refused again, and its link is gone.
  const removed = await sender.reload({ peers: {} });
  assert.ok(removed.ok);
  assert.deepEqual(removed.applied, ['federation.peers.r']);
  const after = await send();
  assert.equal(after.header.code, 'unknown_peer');
  assert.equal(sender.server!.federation.status().links.r, undefined);
  assert.equal(alice.closed, false);
  alice.close();
  bob.close();
});
