// Two daemons in one process as two nodes of a cluster on one real Redis (docs/scaling.md): failed
// logins are counted for the whole cluster (redis/login-throttle.ts), and each node's informer
// answers listClients, isClient and serverInfo for every node (presence).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/server/config/load.ts';
import { silentLogger } from '../../src/server/log.ts';
import { RedisAccountStore } from '../../src/server/redis/account-store.ts';
import { connectRedis } from '../../src/server/redis/client.ts';
import { RedisLoginThrottle } from '../../src/server/redis/login-throttle.ts';
import { startServer, type BesterServer } from '../../src/server/server.ts';
import { connectInformer } from '../../src/sdk/informer.ts';
import { rawConfig, tempDir } from '../helpers/daemon.ts';
import { loggedIn, type RawClient } from '../helpers/raw-client.ts';
import { HAVE_REDIS, startRedis, type TestRedis } from '../helpers/redis-server.ts';

interface Frame {
  header: Record<string, unknown>;
}

const LIMITS = { maxPerAddress: 100, maxPerUser: 3, windowMs: 60_000, blockMs: 60_000 };

describe('a cluster of two daemons: throttle and informer across nodes', { skip: HAVE_REDIS ? false : 'redis-server is not installed', timeout: 60_000 }, () => {
  let redis: TestRedis;
  const servers: BesterServer[] = [];
  const dirs: string[] = [];
  const clients: RawClient[] = [];

  before(async () => {
    redis = await startRedis();
    const client = await connectRedis({ url: redis.url, prefix: 'bester:' }, silentLogger(), 'test');
    const store = new RedisAccountStore({ client, prefix: 'bester:', ownsClient: true });
    for (const name of ['alice', 'bob', 'carol']) await store.add(name, `${name}-pw`);
    await store.close();
    for (const nodeId of ['n1', 'n2']) {
      const dir = tempDir();
      dirs.push(dir);
      const raw = rawConfig(dir, { listeners: ['tcp4'], extra: { database: { type: 'redis', redis: { url: redis.url, nodeId } }, limits: { loginFailures: LIMITS } } });
      servers.push(await startServer(parseConfig(raw, { baseDir: dir }).config, { logger: silentLogger() }));
    }
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.close();
    await redis?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const port = (i: number): number => servers[i]!.listeners[0]!.port!;

  async function attempt(i: number, user: string, password: string): Promise<Frame> {
    const { client, answer } = await loggedIn({ port: port(i) }, user, password);
    clients.push(client);
    return answer as Frame;
  }

  test('failures on both nodes add up: the user is throttled on either', async () => {
    assert.equal((await attempt(0, 'carol', 'wrong')).header.code, 'auth_failed');
    assert.equal((await attempt(1, 'carol', 'wrong')).header.code, 'auth_failed');
    assert.equal((await attempt(0, 'carol', 'wrong')).header.code, 'auth_failed');
    // Three failures in the window, two on n1 and one on n2: n2 refuses the right password too.
    assert.equal((await attempt(1, 'carol', 'carol-pw')).header.code, 'login_throttled');
    assert.equal((await attempt(0, 'carol', 'carol-pw')).header.code, 'login_throttled');
    assert.equal((await attempt(1, 'bob', 'bob-pw')).header.status, 'good', 'another user is not affected');
  });

  test('a Redis that does not answer: the throttle falls back to this node alone, within a second', async () => {
    const client = await connectRedis({ url: redis.url, prefix: 'bester:' }, silentLogger(), 'throttle');
    const throttle = new RedisLoginThrottle({ client, prefix: 'bester:', limits: LIMITS, logger: silentLogger(), ownsClient: true });
    await throttle.failed('10.0.0.1', 'dave');
    await client.sendCommand(['CLIENT', 'PAUSE', '1500', 'ALL']);
    const started = Date.now();
    assert.equal(await throttle.check('10.0.0.1', 'dave'), null);
    assert.ok(Date.now() - started < 2500, 'did not wait for Redis');
    await throttle.close();
    await new Promise((r) => setTimeout(r, 1600)); // the pause ends
  });

  test("each node's informer answers for the whole cluster", async () => {
    const alice = await attempt(0, 'alice', 'alice-pw');
    assert.equal(alice.header.status, 'good');
    const informer = await connectInformer(servers[1]!.informerPath ?? undefined, { timeoutMs: 5000 });
    try {
      const deadline = Date.now() + 10_000;
      let users: string[] = [];
      while (Date.now() < deadline) {
        users = await informer.listClients();
        if (users.includes('alice')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(users, ['alice', 'bob'], 'alice on n1, bob on n2 (from the first test)');
      assert.equal(await informer.isClient('alice'), true);
      assert.equal(await informer.isClient('carol'), false);
      const info = (await informer.request('serverInfo')) as Record<string, unknown>;
      assert.equal(info['connections'], 1, 'this node');
      assert.deepEqual(info['cluster'], { nodeId: 'n2', sessions: 2, users: 2, nodes: { n1: 1, n2: 1 } });
    } finally {
      await informer.close();
    }
  });
});
