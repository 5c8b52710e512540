// Federation from a cluster (docs/scaling.md "Federation from a cluster"): three besterd
// processes on one Redis, as one server "c", federating with an outside daemon "o". The outbox is
// in Redis; one node at a time holds the lease on the link to o and sends; the others queue and
// announce. Killing the holder with SIGKILL hands the link to another node within the lease time,
// and o's user gets every message once, in order.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectRedis } from '../../src/server/redis/client.ts';
import { RedisAccountStore } from '../../src/server/redis/account-store.ts';
import { silentLogger } from '../../src/server/log.ts';
import { rawConfig, tempDir } from '../helpers/daemon.ts';
import { spawnBesterd, type BesterdProcess } from '../helpers/besterd-process.ts';
import { ROUTE_HANDLER, SECRET, TestNode } from '../helpers/federation.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { HAVE_REDIS, startRedis, type TestRedis } from '../helpers/redis-server.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: { type?: string; data?: { n?: number } };
}

const LEASE_KEY = 'bester:{outbox}:peer:lease:o';

describe('federation from a cluster of three daemons on Redis', { skip: HAVE_REDIS ? false : 'redis-server is not installed', timeout: 90_000 }, () => {
  let redis: TestRedis;
  let outside: TestNode;
  const dirs: string[] = [];
  const nodes = new Map<string, BesterdProcess & { port: number }>();
  const clients: RawClient[] = [];

  async function startNode(id: string): Promise<void> {
    const dir = tempDir();
    dirs.push(dir);
    const raw = rawConfig(dir, {
      listeners: ['tcp4'],
      handlers: { M1: { binary: process.execPath, args: [ROUTE_HANDLER] } },
      extra: {
        database: { type: 'redis', redis: { url: redis.url, nodeId: id } },
        federation: { nodeId: 'c', heartbeatMs: 500, reconnectDelayMs: 50, maxReconnectDelayMs: 300, peers: { o: { address: outside.address, secret: SECRET } } },
      },
    });
    const file = path.join(dir, 'server.conf');
    writeFileSync(file, JSON.stringify(raw));
    const proc = spawnBesterd(process.execPath, [path.join(import.meta.dirname, '../../src/cli/besterd.ts'), file], 30_000);
    const { port } = await proc.started;
    nodes.set(id, { ...proc, port: port! });
  }

  async function leaseOwner(): Promise<string | null> {
    const client = await connectRedis({ url: redis.url, prefix: 'bester:' }, silentLogger(), 'probe');
    try {
      const value = await client.get(LEASE_KEY);
      return value === null ? null : value.split('/')[0]!;
    } finally {
      client.destroy();
    }
  }

  async function until<T>(what: string, read: () => Promise<T | null>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (value !== null) return value;
      if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    redis = await startRedis();
    const client = await connectRedis({ url: redis.url, prefix: 'bester:' }, silentLogger(), 'test');
    const store = new RedisAccountStore({ client, prefix: 'bester:', ownsClient: true });
    for (const name of ['alice', 'bob']) await store.add(name, `${name}-pw`);
    await store.close();
    outside = await new TestNode({ name: 'o', handlers: ['M1'], users: ['zoe'] }).start({ peers: { c: { secret: SECRET } } });
    for (const id of ['n1', 'n2', 'n3']) await startNode(id);
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const node of nodes.values()) node.child.kill('SIGTERM');
    await Promise.all([...nodes.values()].map((n) => n.exited));
    await outside?.destroy();
    await redis?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function as(port: number, user: string): Promise<RawClient> {
    const { client, answer } = await loggedIn({ port }, user, `${user}-pw`);
    assert.equal((answer as Frame).header.status, 'good');
    clients.push(client);
    return client;
  }

  const route = [{ sendServers: ['o'] }, { sendClients: ['zoe'] }];

  /** Sends n = from..to from `client`, each report awaited (the message is in the shared outbox). */
  async function send(client: RawClient, from: number, to: number): Promise<void> {
    for (let n = from; n <= to; n++) {
      client.send(message('M1', `m-${n}`, { route, n }));
      const report = (await client.next(10_000)) as Frame;
      assert.equal(report.header.status, 'good', JSON.stringify(report));
    }
  }

  /** The next `count` numbers zoe receives. */
  async function received(zoe: RawClient, count: number, timeoutMs: number): Promise<number[]> {
    const got: number[] = [];
    const deadline = Date.now() + timeoutMs;
    while (got.length < count) {
      const frame = (await zoe.next(Math.max(1, deadline - Date.now()))) as Frame | null;
      if (frame === null) assert.fail(`zoe got ${JSON.stringify(got)}, then nothing within ${timeoutMs} ms`);
      got.push(frame.payload.data?.n ?? -1);
    }
    return got;
  }

  test('one node holds the link; the others queue; SIGKILL of the holder moves the link, nothing lost or reordered', async () => {
    const owner = await until('a node holding the lease', leaseOwner, 10_000);
    const others = ['n1', 'n2', 'n3'].filter((id) => id !== owner);
    const zoe = await as(outside.port, 'zoe');
    const alice = await as(nodes.get(others[0]!)!.port, 'alice'); // not the holder: queues and announces
    const bob = await as(nodes.get(owner)!.port, 'bob'); // the holder
    await send(alice, 1, 10);
    await send(bob, 11, 15);
    assert.deepEqual(await received(zoe, 15, 20_000), Array.from({ length: 15 }, (_, i) => i + 1));

    await send(alice, 16, 25); // some may still be in flight when the holder dies
    const killed = nodes.get(owner)!;
    killed.child.kill('SIGKILL');
    await killed.exited;
    nodes.delete(owner);
    const started = Date.now();
    await send(alice, 26, 40); // queued while no node holds the link
    const next = await until('another node holding the lease', async () => {
      const now = await leaseOwner();
      return now !== null && now !== owner ? now : null;
    }, 15_000);
    assert.ok(others.includes(next));
    const got = await received(zoe, 25, 20_000);
    assert.ok(Date.now() - started < 15_000, 'the link moved within the lease time and a round');
    assert.deepEqual(got, Array.from({ length: 25 }, (_, i) => i + 16), 'every message once, in order');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(zoe.queued, 0, 'no duplicates');
  });
});
