// Two besterd nodes on Redis behind three real Sentinels, through two failovers (issue 14;
// docs/scaling.md "At a Sentinel failover"). The config names the Sentinels
// (database.redis.sentinel); the test kills the master with SIGKILL, the Sentinels promote its
// replica, and the daemons must find the new master by themselves: a login works again, a delivery
// crosses nodes again, and a message to a user connected nowhere is kept and delivered at that
// user's next login. Then the first server is started again as a replica of the second and
// `SENTINEL FAILOVER` moves the master back to it: the same checks again. Every message answered
// "good" after a failover settled is checked to have arrived, live or at the next login.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HAVE_REDIS, type TestRedis } from '../helpers/redis-server.ts';
import { startSentinels, type TestSentinels } from '../helpers/redis-sentinel.ts';
import { until } from '../helpers/until.ts';
import { addRedisUsers, loginOn, nextFrame, RedisNodes, type Frame, type RedisNode } from '../helpers/redis-nodes.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';

// Fast heartbeats, as the other fault tests (docs/scaling.md "Tuning").
const TIMING = { heartbeatMs: 250, expiryMs: 1500, ackTimeoutMs: 4000 };
const MASTER_LOG = 'redis: the Sentinels named a new master (a failover); Bester now uses it';

describe('two daemons on Redis behind three Sentinels, through failovers', { skip: HAVE_REDIS ? false : 'redis-server is not installed', timeout: 120_000 }, () => {
  let sentinels: TestSentinels;
  let nodes: RedisNodes;
  let n1: RedisNode;
  let n2: RedisNode;
  const clients: RawClient[] = [];
  const report: string[] = [];

  before(async () => {
    sentinels = await startSentinels();
    const sentinel = { name: sentinels.name, nodes: sentinels.nodes };
    await addRedisUsers({
      url: `redis://${sentinels.nodes[0]}`, prefix: 'bester:',
      sentinel: { name: sentinels.name, nodes: sentinels.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })) },
    }, ['alice', 'bob', 'carol', 'dave']);
    nodes = new RedisNodes({ sentinel, ...TIMING });
    [n1, n2] = await Promise.all([nodes.start('n1'), nodes.start('n2')]);
  });

  after(async () => {
    for (const c of clients) c.close();
    await nodes?.stop();
    await sentinels?.stop();
  });

  async function as(node: RedisNode, user: string): Promise<RawClient> {
    const client = await loginOn(node, user);
    clients.push(client);
    return client;
  }

  /** Logs in, again and again until it works (a login during a failover may be refused); bounded. */
  async function loginSoon(node: RedisNode, user: string, timeoutMs: number): Promise<{ client: RawClient; ms: number }> {
    const started = Date.now();
    let last: unknown = null;
    while (Date.now() - started < timeoutMs) {
      try {
        const { client, answer } = await loggedIn({ port: node.port }, user, `${user}-pw`);
        if ((answer as Frame | null)?.header.status === 'good') {
          clients.push(client);
          return { client, ms: Date.now() - started };
        }
        last = answer;
        client.close();
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`${user} could not log in on ${node.id} within ${timeoutMs} ms; last answer: ${JSON.stringify(last)}`);
  }

  /**
   * `from` sends to `user` (connected with `to`) until a delivery arrives live (bounded). Returns
   * the messages answered "good", what `to` received, and how long it took.
   */
  async function deliverSoon(from: RawClient, to: RawClient, user: string, tag: string, timeoutMs: number): Promise<{ good: string[]; seen: string[]; ms: number }> {
    const started = Date.now();
    const good: string[] = [];
    const seen: string[] = [];
    const refused: string[] = [];
    for (let i = 0; Date.now() - started < timeoutMs; i++) {
      const text = `${tag}-${i}`;
      from.send(message('fake', text, { to: [user], text }));
      const answer = (await from.next(15_000)) as Frame;
      if (answer.header.status === 'good') good.push(text);
      else refused.push(String(answer.header.code));
      for (let frame = await nextFrame(to, 1000); frame !== null; frame = await nextFrame(to, 100)) {
        const data = frame.payload['data'] as { text?: string } | undefined;
        if (typeof data?.text === 'string') seen.push(data.text);
      }
      if (seen.includes(text)) return { good, seen, ms: Date.now() - started };
    }
    assert.fail(`no delivery to ${user} arrived within ${timeoutMs} ms (good: ${good.join(', ')}; refused: ${refused.join(', ')})`);
  }

  /** `user` logs in again on `node`: every message answered good is then read live or kept. */
  async function nothingLost(node: RedisNode, user: string, sent: { good: string[]; seen: string[] }): Promise<void> {
    const again = await as(node, user);
    const kept: string[] = [];
    for (let frame = await nextFrame(again, 1000); frame !== null; frame = await nextFrame(again, 300)) {
      const data = frame.payload['data'] as { text?: string } | undefined;
      if (typeof data?.text === 'string') kept.push(data.text);
    }
    again.close();
    assert.deepEqual(sent.good.filter((text) => !sent.seen.includes(text) && !kept.includes(text)), [], 'acknowledged and lost');
  }

  /** Every node logged that it now uses `server` as its master. */
  async function nodesFollowed(server: TestRedis): Promise<void> {
    const master = `127.0.0.1:${server.port}`;
    for (const node of [n1, n2]) {
      await until(`${node.id} logs the new master ${master}`, () => Promise.resolve(node.proc.logs.some((l) => l['msg'] === MASTER_LOG && l['master'] === master)), 20_000,
        () => node.proc.logs.slice(-30).map((l) => JSON.stringify(l)).join('\n'));
    }
  }

  /** A user connected nowhere is sent a message on n1; it is delivered at their login on n2. */
  async function keptForNextLogin(from: RawClient, user: string, text: string): Promise<void> {
    from.send(message('fake', text, { to: [user], text }));
    const answer = (await from.next(15_000)) as Frame;
    assert.equal(answer.header.status, 'good', JSON.stringify(answer));
    const client = await as(n2, user);
    const frame = await nextFrame(client, 5000);
    assert.deepEqual(frame?.payload, { data: { to: [user], text }, type: 'fake' });
    client.close();
  }

  test('a delivery crosses nodes through the master the Sentinels name', async () => {
    const alice = await as(n1, 'alice');
    const bob = await as(n2, 'bob');
    await deliverSoon(alice, bob, 'bob', 'start', 10_000);
    bob.send(message('fake', 'back', { to: ['alice'], text: 'back' }));
    assert.deepEqual(((await alice.next()) as Frame).payload, { data: { to: ['alice'], text: 'back' }, type: 'fake' });
    assert.equal(((await bob.next()) as Frame).header.status, 'good');
  });

  /**
   * After a failover started at `started` (the Sentinels asked, or the master killed): the
   * Sentinels name `master`, both daemons use it, and a login, a cross-node delivery and a message
   * kept for the next login all work; what it took goes into the report as `label`.
   */
  async function servedAfterFailover(label: string, started: number, master: TestRedis, loginNode: RedisNode, text: string): Promise<void> {
    const [alice, bob] = clients as [RawClient, RawClient];
    await sentinels.waitForMaster(master);
    const named = Date.now() - started;
    await nodesFollowed(master);
    const followed = Date.now() - started;
    const login = await loginSoon(loginNode, 'carol', 20_000);
    login.client.close();
    const sent = await deliverSoon(alice, bob, 'bob', text, 20_000);
    await keptForNextLogin(alice, 'dave', `kept across ${label}`);
    await nothingLost(n2, 'bob', sent);
    report.push(`${label}: the Sentinels named the new master after ${named} ms, both daemons used it after ${followed} ms; ` +
      `then a login took ${login.ms} ms and a cross-node delivery ${sent.ms} ms (${sent.good.length} answered good, ${sent.seen.length} read live)`);
  }

  test('the master killed with SIGKILL: the Sentinels promote the replica and the daemons follow by themselves', async () => {
    const killed = Date.now();
    await sentinels.first.kill();
    await servedAfterFailover('the SIGKILL of the master', killed, sentinels.second, n2, 'failover');
  });

  test('SENTINEL FAILOVER back to the first server, started again: the daemons follow again', async () => {
    await sentinels.rejoin(sentinels.first); // from its append-only file, as a replica of the second
    const started = Date.now();
    await sentinels.failover();
    await servedAfterFailover('SENTINEL FAILOVER', started, sentinels.first, n1, 'back');
  });

  test('no daemon logged an unhandled rejection or an uncaught exception, and both still run', (t) => {
    for (const node of [n1, n2]) {
      const bad = node.proc.logs.filter((l) => /unhandled rejection|uncaught exception/.test(String(l['msg'])));
      assert.deepEqual(bad, [], `${node.id}: ${JSON.stringify(bad)}`);
      assert.equal(node.proc.child.exitCode, null, `${node.id} still runs`);
    }
    t.diagnostic(report.join('\n'));
  });
});
