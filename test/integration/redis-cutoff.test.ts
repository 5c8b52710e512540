// A node cut off from Redis, not dead (docs/scaling.md "Back from a cut"): two besterd processes and
// one Redis this file starts; n1 reaches Redis only through a TCP proxy the test cuts and restores
// (test/helpers/tcp-cut.ts), n2 directly. Cut longer than expiryMs, n2 takes n1 for dead and keeps
// what bob sends to alice (connected to n1 all along) in the offline queue. Restored: alice gets
// those kept deliveries without logging in again (with no other traffic: n1's own catch-up; under
// live traffic: in order, before the live ones sent after), each once. The kept notice on its own;
// then a SIGTERM while cut off stops n1 in bounded time. Fast heartbeat: 200/1000/4000 ms.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectRedis, type RedisClient } from '../../src/server/redis/client.ts';
import { RedisAccountStore } from '../../src/server/redis/account-store.ts';
import { RedisKeptNotice } from '../../src/server/redis/kept-notice.ts';
import { createLogger, silentLogger } from '../../src/server/log.ts';
import { rawConfig, ROOT, tempDir, writeTestConfig } from '../helpers/daemon.ts';
import { spawnBesterd, type BesterdProcess } from '../helpers/besterd-process.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { HAVE_REDIS, startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startTcpCut, type TcpCut } from '../helpers/tcp-cut.ts';
import { until } from '../helpers/until.ts';
import { readTexts } from '../helpers/redis-nodes.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

const TIMING = { heartbeatMs: 200, expiryMs: 1000, ackTimeoutMs: 4000 };


describe('a node cut off from Redis, not dead, catches up when it returns', { skip: HAVE_REDIS ? false : 'redis-server is not installed', timeout: 60_000 }, () => {
  let redis: TestRedis;
  let proxy: TcpCut;
  let probe: RedisClient;
  const dirs: string[] = [];
  const procs = new Map<string, BesterdProcess>();
  const ports = new Map<string, number>();
  const clients: RawClient[] = [];

  async function startNode(id: string, url: string): Promise<void> {
    const dir = tempDir();
    dirs.push(dir);
    const raw = rawConfig(dir, {
      handlers: { fake: {} },
      listeners: ['tcp4'],
      extra: { database: { type: 'redis', redis: { url, nodeId: id, ...TIMING } } },
    });
    const proc = spawnBesterd(process.execPath, [path.join(ROOT, 'src/cli/besterd.ts'), writeTestConfig(dir, raw)], 30_000);
    procs.set(id, proc);
    ports.set(id, (await proc.started).port!);
  }

  async function as(node: string, user: string): Promise<RawClient> {
    const { client, answer } = await loggedIn({ port: ports.get(node)! }, user, `${user}-pw`);
    assert.equal((answer as Frame).header.status, 'good', JSON.stringify(answer));
    clients.push(client);
    return client;
  }

  const onNodes = (user: string, count: number, timeoutMs = 10_000): Promise<void> =>
    until(`${user} on ${count} node(s)`, async () => (await probe.hLen(`bester:{presence}:user:${user}`)) === count, timeoutMs);

  before(async () => {
    redis = await startRedis();
    proxy = await startTcpCut(redis.port);
    probe = await connectRedis({ url: redis.url, prefix: 'bester:' }, silentLogger(), 'probe');
    const store = new RedisAccountStore({ client: await connectRedis({ url: redis.url, prefix: 'bester:' }, silentLogger(), 'users'), prefix: 'bester:', ownsClient: true });
    for (const name of ['alice', 'bob']) await store.add(name, `${name}-pw`);
    await store.close();
    await Promise.all([startNode('n1', `redis://127.0.0.1:${proxy.port}`), startNode('n2', redis.url)]);
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const proc of procs.values()) proc.child.kill('SIGKILL');
    await Promise.all([...procs.values()].map((p) => p.exited));
    probe.destroy();
    await proxy.close();
    await redis.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function send(from: RawClient, text: string): Promise<Frame> {
    from.send(message('fake', text, { to: ['alice'], text }));
    return (await from.next(10_000)) as Frame;
  }

  let alice: RawClient;
  let bob: RawClient;
  const seen: string[] = [];

  /** Cuts n1 off until n2 takes it for dead, then bob sends `texts` to alice: each kept. Resolves to ms until dropped. */
  async function cutAndKeep(texts: readonly string[]): Promise<number> {
    const cutAt = Date.now();
    proxy.cut();
    await onNodes('alice', 0); // n2 took n1 for dead: alice is connected nowhere, as far as Redis knows
    const dropped = Date.now() - cutAt;
    for (const text of texts) {
      const answer = await send(bob, text);
      assert.equal(answer.header.status, 'good', JSON.stringify(answer));
      assert.deepEqual(answer.header['stored'], ['alice'], 'kept in the offline queue');
    }
    const before = seen.length;
    await readTexts(alice, 300, seen);
    assert.equal(seen.length, before, 'nothing reaches alice while n1 is cut off');
    return dropped;
  }

  test('deliveries kept while it was taken for dead reach the user still connected to it when it is back, without a login', async (t) => {
    alice = await as('n1', 'alice');
    bob = await as('n2', 'bob');
    await onNodes('alice', 1);
    await onNodes('bob', 1);
    assert.equal((await send(bob, 'live-before')).header.status, 'good');
    await until('the first live delivery', async () => {
      await readTexts(alice, 100, seen);
      return seen.includes('live-before');
    }, 5000);
    const kept = ['quiet-0', 'quiet-1', 'quiet-2'];
    const dropped = await cutAndKeep(kept);
    proxy.restore();
    const restoredAt = Date.now();
    // Nothing else is sent: only n1's catch-up, when presence says it was forgotten, can bring them.
    await until('the kept deliveries', async () => {
      await readTexts(alice, 100, seen);
      return seen.length >= 1 + kept.length;
    }, 15_000);
    const caughtUp = Date.now() - restoredAt;
    await readTexts(alice, 300, seen);
    t.diagnostic(`n1 dropped from presence ${dropped} ms after the cut; kept deliveries received ${caughtUp} ms after the restore`);
    assert.deepEqual(seen, ['live-before', ...kept], 'in order, each once');
    assert.equal(alice.closed, false, 'alice stayed connected throughout');
    const n1 = procs.get('n1')!;
    assert.ok(n1.logs.some((l) => String(l['msg']).includes('back after being taken for dead')), 'the catch-up is logged');
  });

  test('under live traffic: the kept ones first, in order, then the live ones sent after the restore, each once', async (t) => {
    seen.length = 0;
    const kept = Array.from({ length: 5 }, (_, i) => `kept-${i}`);
    const dropped = await cutAndKeep(kept);
    proxy.restore();
    const restoredAt = Date.now();
    // Live deliveries from now on, one every 100 ms or so: those sent before n1 is in presence
    // again are kept too (after the others), the rest go live; every one must arrive once, after kept-4.
    const live: string[] = [];
    let caughtUp = 0;
    for (let i = 0; i < 150; i++) {
      const text = `live-${i}`;
      const answer = await send(bob, text);
      assert.equal(answer.header.status, 'good', JSON.stringify(answer));
      live.push(text);
      await readTexts(alice, 100, seen);
      if (caughtUp === 0 && seen.includes('kept-4')) caughtUp = Date.now() - restoredAt;
      if (caughtUp > 0 && seen.includes(text)) break;
    }
    await readTexts(alice, 500, seen);
    t.diagnostic(`n1 dropped from presence ${dropped} ms after the cut; kept deliveries received ${caughtUp} ms after the restore; ${live.length} live sent after it`);
    assert.ok(caughtUp > 0, `the kept deliveries arrived without a new login (seen: ${seen.join(' ')})`);
    assert.deepEqual(seen, [...kept, ...live], 'in order, each once, kept before later live ones');
    assert.equal(alice.closed, false, 'alice stayed connected throughout');
  });

  test('the kept notice: heard by the other nodes, not by its sender; retried while Redis is out of reach, given up after its tries', async () => {
    const cut = await startTcpCut(redis.port); // its own: n1's stays up
    const direct = await connectRedis({ url: redis.url, prefix: 'bester:' }, silentLogger(), 'notice-a');
    const cutClient = await connectRedis({ url: `redis://127.0.0.1:${cut.port}`, prefix: 'bester:' }, silentLogger(), 'notice-b');
    const listener = await RedisKeptNotice.open({ client: direct, prefix: 'bester:', nodeId: 'x1' });
    const sender = await RedisKeptNotice.open({ client: cutClient, prefix: 'bester:', nodeId: 'x2', retries: 40, retryMs: 100 });
    const logs: Array<Record<string, unknown>> = [];
    const logger = createLogger({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
    const brief = await RedisKeptNotice.open({ client: cutClient, prefix: 'bester:', nodeId: 'x3', retries: 3, retryMs: 50, logger });
    const heard: string[][] = [];
    const own: string[][] = [];
    listener.onKept((users) => heard.push([...users]));
    sender.onKept((users) => own.push([...users]));
    try {
      assert.equal(listener.ready(), true);
      sender.send(['carol']);
      await until('the notice heard', () => heard.length === 1, 3000);
      assert.deepEqual(heard, [['carol']]);
      cut.cut();
      await until('the sender\'s connection down', () => !cutClient.isReady, 3000);
      sender.send(['dave', 'erin']); // Redis out of reach: tried again every 100 ms
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(heard.length, 1);
      cut.restore();
      await until('the notice heard once Redis is back', () => heard.length === 2, 8000);
      assert.deepEqual(heard[1], ['dave', 'erin']);
      assert.deepEqual(own, [], 'a node does not act on its own notices');
      // Bounded: 3 tries 50 ms apart, then given up (and said so), not sent when Redis is back.
      await until('the sender back', () => cutClient.isReady, 8000);
      cut.cut();
      await until('the sender\'s connection down again', () => !cutClient.isReady, 3000);
      brief.send(['frank']);
      await until('the notice given up', () => logs.some((l) => String(l['msg']).includes('given up')), 3000);
      cut.restore();
      await until('the sender back again', () => cutClient.isReady, 8000);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(heard.length, 2, 'a notice given up is not sent later');
    } finally {
      await listener.close();
      await sender.close();
      await brief.close();
      direct.destroy();
      cutClient.destroy();
      await cut.close();
    }
  });

  test('SIGTERM while cut off from Redis stops the node in bounded time', async (t) => {
    const n1 = procs.get('n1')!;
    proxy.cut();
    await onNodes('alice', 0);
    const started = Date.now();
    n1.child.kill('SIGTERM');
    const code = await Promise.race([n1.exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000))]);
    const took = Date.now() - started;
    t.diagnostic(`n1 stopped ${took} ms after SIGTERM while cut off (exit ${String(code)})`);
    assert.notEqual(code, 'hung', `n1 did not stop within 10 s while cut off: ${n1.stderr()}`);
    assert.equal(code, 0);
    assert.ok(took < 6000, `stopped in ${took} ms`);
    proxy.restore();
  });
});
