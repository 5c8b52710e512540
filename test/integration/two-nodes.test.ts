// The presence and delivery-bus seams in use (docs/architecture.md): two real daemons in one
// process share one account file, a memory presence and a memory bus, and serve one set of users
// as one server: a delivery reaches a user on the other node, a user on both nodes gets it on each
// session once, and a user on neither is kept for the next login as usual.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rmSync } from 'node:fs';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { MemoryDeliveryBus } from '../../src/server/presence/memory-delivery-bus.ts';
import { MemoryPresence } from '../../src/server/presence/memory-presence.ts';
import { startServer, type BesterServer } from '../../src/server/server.ts';
import { rawConfig, tempDir } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

describe('two daemons as one server (memory presence and bus)', () => {
  const dirs: string[] = [];
  const servers: BesterServer[] = [];
  const clients: RawClient[] = [];
  const presence = new MemoryPresence();
  const bus = new MemoryDeliveryBus();

  before(async () => {
    const shared = tempDir();
    dirs.push(shared);
    const accountsPath = `${shared}/accounts.db`;
    const store = await openSqliteAccountStore(accountsPath);
    for (const name of ['alice', 'bob', 'carol']) await store.add(name, `${name}-pw`);
    await store.close();
    for (const nodeId of ['n1', 'n2']) {
      const dir = tempDir();
      dirs.push(dir);
      const raw = rawConfig(dir, { handlers: { fake: {} }, listeners: ['tcp4'], extra: { database: { type: 'sqlite', sqlite: { path: accountsPath } } } });
      const { config } = parseConfig(raw, { baseDir: dir });
      servers.push(await startServer(config, { cluster: { nodeId, presence, bus } }));
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.close()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function as(node: number, user: string): Promise<RawClient> {
    const port = servers[node]!.listeners[0]!.port!;
    const { client, answer } = await loggedIn({ port }, user, `${user}-pw`);
    assert.equal((answer as Frame).header.status, 'good');
    clients.push(client);
    return client;
  }

  test('a delivery reaches a user connected to the other node; the sender gets one good report', async () => {
    const alice = await as(0, 'alice');
    const bob = await as(1, 'bob');
    for (let i = 0; i < 100 && (await presence.nodesOf('bob')).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    alice.send(message('fake', 'x1', { to: ['bob'], text: 'across' }));
    assert.deepEqual(((await bob.next()) as Frame).payload, { data: { to: ['bob'], text: 'across' }, type: 'fake' });
    assert.deepEqual(((await alice.next()) as Frame).header, { status: 'good', messageType: 'statusReport' });
  });

  test('a user on both nodes gets the delivery once on each session', async () => {
    const carolHere = await as(0, 'carol');
    const carolThere = await as(1, 'carol');
    for (let i = 0; i < 100 && (await presence.nodesOf('carol')).length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const bob = clients.find((c) => c === clients[1])!;
    bob.send(message('fake', 'x2', { to: ['carol'] }));
    for (const c of [carolHere, carolThere]) assert.equal(((await c.next()) as Frame).payload.type, 'fake');
    assert.equal(((await bob.next()) as Frame).header.status, 'good');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(carolHere.queued + carolThere.queued, 0, 'no duplicate on either session');
  });

  test('presence forgets a closed session: a user gone from both nodes is kept for the next login', async () => {
    const alice = clients[0]!;
    clients[1]!.close(); // bob leaves node 2
    for (let i = 0; i < 200 && (await presence.nodesOf('bob')).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(await presence.nodesOf('bob'), []);
    alice.send(message('fake', 'x3', { to: ['bob'], text: 'later' }));
    const report = (await alice.next()) as Frame;
    assert.deepEqual([report.header.status, report.header.stored], ['good', ['bob']]);
    const bob = await as(0, 'bob');
    assert.deepEqual(((await bob.next()) as Frame).payload, { data: { to: ['bob'], text: 'later' }, type: 'fake' });
  });
});
