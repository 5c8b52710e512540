// A peer's big message data (docs/federation.md §3.3): read as bytes and checked, never built nor
// decoded, on its way to the handler and the recipient (parseFrameText's `lazy`: the handler's
// request and the delivery are written with the data's own bytes in them); data that is not JSON is
// refused with malformed_json, like any frame that is not, and the daemon goes on.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { loggedIn, type RawClient } from '../helpers/raw-client.ts';
import { FAULT_HANDLER, ScriptedPeer, SECRET, TestNode } from '../helpers/federation.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

const nodes: TestNode[] = [];
after(async () => {
  for (const n of nodes) await n.destroy();
});

async function bobOn(node: TestNode): Promise<RawClient> {
  const { client, answer } = await loggedIn({ port: node.port }, 'bob', 'bob-pw');
  assert.equal((answer as Frame).header.status, 'good');
  return client;
}

describe("a peer's big message data", () => {
  test('reaches an envelope handler and the recipient exactly as the peer sent it', async () => {
    const b = new TestNode({ name: 'bd1', handlers: ['M1'], users: ['bob'], script: FAULT_HANDLER, envelope: ['M1'] });
    nodes.push(b);
    await b.start({ peers: { p1: { secret: SECRET } } });
    const bob = await bobOn(b);
    const { peer } = await ScriptedPeer.open(b, 'p1');
    // Over the size from which the data is left as text; escapes, quotes, non-ASCII and a surrogate pair.
    const blob = 'é "q" \\ \n\t\u2028 😀 '.repeat(12_000);
    peer.send(ScriptedPeer.message(1, { route: [{ sendClients: ['bob'] }], blob, n: [1.5, -0, true, null] }));
    const ack = await peer.next(10_000, (p) => p.type === 'bester.ack');
    assert.equal(ack.status, 'ok');
    const delivery = (await bob.next(10_000)) as Frame;
    const data = delivery.payload['data'] as { blob: string; n: unknown[]; seen: unknown[]; trail: string[] };
    assert.equal(data.blob, blob);
    assert.deepEqual(data.n, [1.5, 0, true, null]);
    assert.deepEqual(data.seen, [{ sender: 'alice', origin: 'p1' }], 'the envelope handler was told who sent it, from where');
    assert.deepEqual(data.trail, ['M1']);
    bob.close();
    peer.close();
  });

  test('that is not JSON is refused with malformed_json; nothing reaches the handler; a new link works', async () => {
    const b = new TestNode({ name: 'bd2', handlers: ['M1'], users: ['bob'], script: FAULT_HANDLER });
    nodes.push(b);
    await b.start({ peers: { p2: { secret: SECRET } } });
    const bob = await bobOn(b);
    const bad = [
      `"x${'y'.repeat(100_000)}\u0001"`, // a control character inside a string
      `{"route":[{"sendClients":["bob"]}],"blob":"${'y'.repeat(100_000)}","n":01}`, // a number with a leading zero
      `{"route":[{"sendClients":["bob"]}],"blob":"${'y'.repeat(100_000)}\\q"}`, // an escape JSON does not have
    ];
    for (const data of bad) {
      const { peer } = await ScriptedPeer.open(b, 'p2');
      const payload = `{"type":"M1","id":"p-1","data":${data},"origin":"p2","seq":1,"hops":1,"sender":"alice"}`;
      peer.raw.write(peer.sealedText(payload));
      const refusal = await peer.next(10_000, (p) => p.error !== undefined);
      assert.equal(refusal.error, 'malformed_json');
      peer.close();
    }
    // The same link protocol, well-formed: seq 1 was never processed, so it is taken now.
    const { peer } = await ScriptedPeer.open(b, 'p2');
    // Non-ASCII across the frame's reads: the handler's request and the delivery carry the bytes as they came.
    const blob = 'zé😀 '.repeat(25_000);
    peer.send(ScriptedPeer.message(1, { route: [{ sendClients: ['bob'] }], blob }));
    const ack = await peer.next(10_000, (p) => p.type === 'bester.ack');
    assert.equal(ack.status, 'ok');
    const deliveries: Frame[] = [];
    for (let i = 0; i < 5; i++) {
      const f = (await bob.next(1000).catch(() => null)) as Frame | null;
      if (f === null) break;
      deliveries.push(f);
    }
    assert.equal(deliveries.length, 1, 'only the well-formed message was delivered');
    assert.equal((deliveries[0]!.payload['data'] as { blob: string }).blob, blob);
    bob.close();
    peer.close();
  });
});
