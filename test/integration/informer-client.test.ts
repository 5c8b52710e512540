// The informer client SDK against a real daemon's informer (docs/protocol.md §9), together with
// the client SDK: what one sees of the other.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type BesterClient } from '../../src/sdk/client.ts';
import { connectInformer, InformerError } from '../../src/sdk/informer.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';

describe('informer client against a real daemon', () => {
  let d: TestDaemon;
  const clients: BesterClient[] = [];
  before(async () => {
    d = await startTestDaemon({ handlers: { echo: {} }, extra: { admin: { info: { name: 'sdk test' } } } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await d.close();
  });

  async function as(user: string): Promise<BesterClient> {
    const client = await connect({ server: `127.0.0.1:${d.port}`, username: user, password: `${user}-pw`, timeoutMs: 5000 });
    clients.push(client);
    return client;
  }

  test('listClients, isClient, serverInfo, sendClients, quit', async () => {
    const informer = await connectInformer(d.server.informerPath ?? undefined, { timeoutMs: 5000 });
    try {
      assert.deepEqual(await informer.listClients(), []);
      const alice = await as('alice');
      await as('alice');
      assert.deepEqual(await informer.listClients(), ['alice']);
      assert.equal(await informer.isClient('alice'), true);
      assert.equal(await informer.isClient('bob'), false);
      await assert.rejects(informer.request('isClient', 5), InformerError);

      const info = await informer.serverInfo();
      assert.equal(info.clientCount, '2');
      assert.deepEqual(info.adminInfo, { name: 'sdk test' });
      assert.deepEqual(info.listeners.listener0, { address: `tcp4://127.0.0.1:${d.port}` });
      assert.equal(info.connections, 2);
      assert.equal(info.users, 1);
      assert.equal(info.informer, d.server.informerPath);
      assert.deepEqual(info.handlers?.map((h) => [h.type, h.state, h.managed]), [['echo', 'ready', true]]);
      assert.equal(typeof info.version, 'string');

      const deliveries = alice.deliveries();
      assert.deepEqual(await informer.sendClients(['alice', 'bob'], 'sensor', { t: 21.5 }), { delivered: ['alice'], undelivered: ['bob'] });
      assert.deepEqual(await deliveries.next(), { done: false, value: { type: 'sensor', data: { t: 21.5 } } });
      await deliveries.return?.();

      await assert.rejects(informer.request('shutdown'), { name: 'InformerError', message: /unknown command "shutdown"/ });
      await informer.quit();
      assert.equal(informer.isOpen, false);
    } finally {
      await informer.close();
    }
  });
});
