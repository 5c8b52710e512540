// Self-fencing in delivery (docs/scaling.md "Self-fencing"): a node cut off from the cluster's Redis
// refuses a sendClients result with cluster_unavailable before writing to anyone, even to users
// connected here; a presence that fails or times out during a delivery refuses it the same way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonData } from '../../src/protocol/json-text.ts';
import { BesterError } from '../../src/protocol/errors.ts';
import { silentLogger } from '../../src/server/log.ts';
import type { RemoteDelivery } from '../../src/server/presence/cluster-node.ts';
import { Delivery } from '../../src/server/routing/delivery.ts';
import type { RoutePlan } from '../../src/server/routing/route-plan.ts';
import { SessionRegistry } from '../../src/server/session/registry.ts';

const plan: RoutePlan = { kind: 'deliver', users: ['bob', 'carol'], type: 'chat', messageType: 'chat', data: new JsonData({ text: 'hi' }) };
const context = { sender: 'alice', id: 'm1' };

function setup(remote: RemoteDelivery): { delivery: Delivery; written: string[] } {
  const registry = new SessionRegistry();
  const written: string[] = [];
  registry.add('bob', { sendFrame: () => written.push('bob') > 0 });
  return { delivery: new Delivery({ registry, logger: silentLogger(), remote }), written };
}

test('cut off: refused with cluster_unavailable and the reason; nobody gets it, not even a user connected here', async () => {
  const { delivery, written } = setup({ unavailable: () => 'no heartbeat reached Redis for 6000 ms', deliver: () => assert.fail('not asked') });
  const outcome = await delivery.carryOut(plan, context);
  assert.equal(outcome.good, false);
  assert.ok(!outcome.good);
  assert.equal(outcome.code, 'cluster_unavailable');
  assert.match(outcome.reason, /cut off from the cluster: no heartbeat reached Redis/);
  assert.deepEqual(outcome.undelivered, ['bob', 'carol']);
  assert.deepEqual(written, []);
});

test('a presence that fails during the delivery: refused with cluster_unavailable, never acknowledged', async () => {
  const { delivery, written } = setup({
    unavailable: () => null,
    deliver: () => Promise.reject(new BesterError('cluster_unavailable', "the cluster's presence did not answer within 10 ms")),
  });
  const outcome = await delivery.carryOut(plan, context);
  assert.ok(!outcome.good);
  assert.equal(outcome.code, 'cluster_unavailable');
  assert.deepEqual(outcome.undelivered, ['carol']);
  assert.deepEqual(written, ['bob']); // already written here: at least once, the sender sends again
});

test('reachable: delivered here and through the other nodes as before', async () => {
  const { delivery, written } = setup({ unavailable: () => null, deliver: (users) => Promise.resolve(users.filter((u) => u === 'carol')) });
  assert.deepEqual(await delivery.carryOut(plan, context), { good: true });
  assert.deepEqual(written, ['bob']);
});
