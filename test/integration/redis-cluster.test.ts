// The cross-node delivery tests on a three-master Redis Cluster on loopback (issue 14, Proof;
// docs/scaling.md "Redis Cluster and Sentinel"): three besterd processes whose config names the
// cluster (database.redis.cluster). Every multi-key script keeps its keys in one hash tag, so none
// fails with CROSSSLOT; the keys land on more than one master.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { connectRedis } from '../../src/server/redis/client.ts';
import { RedisAccountStore } from '../../src/server/redis/account-store.ts';
import { silentLogger } from '../../src/server/log.ts';
import { rawConfig, ROOT, tempDir } from '../helpers/daemon.ts';
import { spawnBesterd, type BesterdProcess } from '../helpers/besterd-process.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { HAVE_REDIS } from '../helpers/redis-server.ts';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

describe('three daemons on a three-master Redis Cluster', { skip: HAVE_REDIS ? false : 'redis-server is not installed', timeout: 90_000 }, () => {
  let cluster: TestRedisCluster;
  const dirs: string[] = [];
  const nodes: Array<BesterdProcess & { port: number }> = [];
  const clients: RawClient[] = [];
  const target = (): { url: string; prefix: string; cluster: string[] } => ({ url: `redis://${cluster.nodes[0]}`, prefix: 'bester:', cluster: cluster.nodes.map((n) => `redis://${n}`) });

  before(async () => {
    cluster = await startRedisCluster();
    const client = await connectRedis(target(), silentLogger(), 'test');
    const store = new RedisAccountStore({ client, prefix: 'bester:', ownsClient: true });
    for (const name of ['alice', 'bob', 'carol']) await store.add(name, `${name}-pw`);
    await store.close();
    for (const id of ['n1', 'n2', 'n3']) {
      const dir = tempDir();
      dirs.push(dir);
      const raw = rawConfig(dir, { handlers: { fake: {} }, listeners: ['tcp4'], extra: { database: { type: 'redis', redis: { cluster: cluster.nodes, nodeId: id } } } });
      writeFileSync(path.join(dir, 'server.conf'), JSON.stringify(raw));
      const proc = spawnBesterd(process.execPath, [path.join(ROOT, 'src/cli/besterd.ts'), path.join(dir, 'server.conf')], 30_000);
      nodes.push({ ...proc, port: (await proc.started).port! });
    }
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const node of nodes) node.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exited));
    await cluster?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function as(node: number, user: string): Promise<RawClient> {
    const { client, answer } = await loggedIn({ port: nodes[node]!.port }, user, `${user}-pw`);
    assert.equal((answer as Frame).header.status, 'good');
    clients.push(client);
    return client;
  }

  async function onNodes(user: string, count: number): Promise<void> {
    const client = await connectRedis(target(), silentLogger(), 'probe');
    try {
      for (let i = 0; ; i++) {
        if ((await client.hLen(`bester:{presence}:user:${user}`)) === count) return;
        if (i > 200) assert.fail(`${user} not on ${count} node(s) within 10 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      client.destroy();
    }
  }

  test('a delivery crosses nodes both ways; a user on two nodes gets one delivery per session', async () => {
    const alice = await as(0, 'alice');
    const bob2 = await as(1, 'bob');
    const bob3 = await as(2, 'bob');
    await onNodes('alice', 1);
    await onNodes('bob', 2);
    alice.send(message('fake', 'x1', { to: ['bob'], text: 'n1 to n2 and n3' }));
    for (const bob of [bob2, bob3]) assert.deepEqual(((await bob.next()) as Frame).payload, { data: { to: ['bob'], text: 'n1 to n2 and n3' }, type: 'fake' });
    assert.equal(((await alice.next()) as Frame).header.status, 'good');
    bob2.send(message('fake', 'x2', { to: ['alice'], text: 'back' }));
    assert.deepEqual(((await alice.next()) as Frame).payload, { data: { to: ['alice'], text: 'back' }, type: 'fake' });
    assert.equal(((await bob2.next()) as Frame).header.status, 'good');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(bob2.queued + bob3.queued + alice.queued, 0, 'no duplicates');
  });

  test('a message to a user connected nowhere is kept and delivered at a login on another node', async () => {
    const alice = clients[0]!;
    alice.send(message('fake', 'x3', { to: ['carol'], text: 'while away' }));
    assert.equal(((await alice.next()) as Frame).header.status, 'good');
    const carol = await as(2, 'carol');
    assert.deepEqual(((await carol.next()) as Frame).payload, { data: { to: ['carol'], text: 'while away' }, type: 'fake' });
  });

  test("the keys are spread over the masters, and no node logged a CROSSSLOT error", () => {
    const counts = cluster.nodes.map((n) => {
      const [host, port] = n.split(':');
      return Number(spawnSync('redis-cli', ['-h', host!, '-p', port!, 'DBSIZE'], { encoding: 'utf8' }).stdout.trim());
    });
    assert.ok(counts.filter((n) => n > 0).length >= 2, `keys per master: ${counts.join(', ')}`);
    for (const node of nodes) assert.ok(!node.logs.some((l) => JSON.stringify(l).includes('CROSSSLOT')), 'no CROSSSLOT');
  });
});
