// Three besterd processes and one Redis (docs/scaling.md): each daemon's config names the same
// Redis with its own node id (database.redis.nodeId), so the three serve one set of users as one
// server. A delivery crosses nodes both ways, a user on two nodes gets one delivery per session,
// a message to a user connected nowhere is kept in Redis and delivered at a login on another node,
// and a node killed with SIGKILL stops receiving: its users' deliveries are kept instead.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { connectRedis } from '../../src/server/redis/client.ts';
import { RedisAccountStore } from '../../src/server/redis/account-store.ts';
import { silentLogger } from '../../src/server/log.ts';
import { rawConfig, ROOT, tempDir } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}
type LogLine = Record<string, unknown> & { msg?: string };

interface Node {
  readonly id: string;
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  readonly exited: Promise<number | null>;
  port: number;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, detail = (): string => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms\n${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('three daemons and one Redis', { timeout: 120_000 }, () => {
  let redis: TestRedis;
  const dirs: string[] = [];
  const nodes: Node[] = [];
  const clients: RawClient[] = [];

  async function startNode(id: string): Promise<Node> {
    const dir = tempDir();
    dirs.push(dir);
    const raw = rawConfig(dir, {
      handlers: { fake: {} },
      listeners: ['tcp4'],
      extra: { database: { type: 'redis', redis: { url: redis.url, nodeId: id } } },
    });
    writeFileSync(path.join(dir, 'server.conf'), JSON.stringify(raw));
    const child = spawn(process.execPath, [path.join(ROOT, 'src/cli/besterd.ts'), path.join(dir, 'server.conf')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', () => undefined);
    const logs: LogLine[] = [];
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line });
      }
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const node: Node = { id, child, logs, exited, port: 0 };
    await until(`${id} started`, () => logs.some((l) => l.msg === 'besterd started'), 30_000, () => `${logs.map((l) => JSON.stringify(l)).join('\n')}\n${stderr}`);
    const started = logs.find((l) => l.msg === 'besterd started')!;
    node.port = Number((started['listeners'] as string[]).find((a) => a.startsWith('tcp4://'))!.split(':').pop());
    return node;
  }

  before(async () => {
    redis = await startRedis();
    const client = await connectRedis({ url: redis.url, prefix: 'bester:' }, silentLogger(), 'test');
    const store = new RedisAccountStore({ client, prefix: 'bester:', ownsClient: true });
    for (const name of ['alice', 'bob', 'carol', 'dave']) await store.add(name, `${name}-pw`);
    await store.close();
    for (const id of ['n1', 'n2', 'n3']) nodes.push(await startNode(id));
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const node of nodes) node.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exited));
    await redis.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  async function as(node: number, user: string): Promise<RawClient> {
    const { client, answer } = await loggedIn({ port: nodes[node]!.port }, user, `${user}-pw`);
    assert.equal((answer as Frame).header.status, 'good');
    clients.push(client);
    return client;
  }

  /** Waits until `user` has sessions on `count` nodes in the shared presence. */
  async function onNodes(user: string, count: number): Promise<void> {
    const client = await connectRedis({ url: redis.url, prefix: 'bester:' }, silentLogger(), 'probe');
    try {
      await until(`${user} on ${count} node(s)`, async () => (await client.hLen(`bester:{presence}:user:${user}`)) === count, 10_000);
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

  test('a message to a user connected nowhere is kept in Redis and delivered at a login on another node', async () => {
    const alice = clients[0]!;
    alice.send(message('fake', 'x3', { to: ['carol'], text: 'while away' }));
    const report = (await alice.next()) as Frame;
    assert.equal(report.header.status, 'good', JSON.stringify(report));
    const carol = await as(2, 'carol');
    assert.deepEqual(((await carol.next()) as Frame).payload, { data: { to: ['carol'], text: 'while away' }, type: 'fake' });
  });

  test('a node killed with SIGKILL is dropped from presence by the others; its users get their messages kept', async () => {
    const dave = await as(1, 'dave');
    await onNodes('dave', 1);
    nodes[1]!.child.kill('SIGKILL');
    await nodes[1]!.exited;
    dave.close();
    await onNodes('dave', 0); // the other nodes drop n2's sessions when its heartbeat deadline passes
    const alice = clients[0]!;
    alice.send(message('fake', 'x4', { to: ['dave'], text: 'after the crash' }));
    assert.equal(((await alice.next()) as Frame).header.status, 'good');
    const daveAgain = await as(2, 'dave');
    assert.deepEqual(((await daveAgain.next()) as Frame).payload, { data: { to: ['dave'], text: 'after the crash' }, type: 'fake' });
  });
});
