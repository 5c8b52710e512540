// Redis faults, on a real redis-server this file starts: killed with SIGKILL and started again from
// its append-only file (nothing acknowledged is lost, the clients reconnect by themselves); started
// again empty (detected and logged, never taken silently as an empty server); a node that stops
// heartbeating (its sessions dropped by the others); a subscriber killed with SIGKILL in the middle
// of a delivery (its group hands the delivery again to the next run of the node); an acknowledgement
// nobody heard (published again until its publisher listens).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../../src/server/log.ts';
import { RedisAccountStore } from '../../src/server/redis/account-store.ts';
import { connectRedis, DataSetMarker } from '../../src/server/redis/client.ts';
import { RedisDeliveryBus } from '../../src/server/redis/delivery-bus.ts';
import { RedisKeys } from '../../src/server/redis/keys.ts';
import { RedisOfflineQueue } from '../../src/server/redis/offline-queue.ts';
import { RedisPresence } from '../../src/server/redis/presence.ts';
import { silentLogger } from '../../src/server/log.ts';
import { ROOT, tempDir } from '../helpers/daemon.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

type LogLine = Record<string, unknown> & { msg?: string };

let redis: TestRedis;
let n = 0;
const dir = tempDir('bt-redis-faults-');
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

const connect = (prefix: string) => connectRedis({ url: redis.url, prefix }, silentLogger(), 'test');
const keep = { now: Date.now(), ttlMs: 3_600_000, cap: 100 };
const entry = (user: string, i: number) => ({ user, frame: `{"n":${i}}`, msgType: 't', msgId: `m${i}`, sender: 'alice', origin: null });

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('Redis killed and started again from its AOF: nothing acknowledged is lost; the stores reconnect by themselves', { timeout: 60_000 }, async () => {
  const prefix = `aof${++n}:`;
  const accounts = new RedisAccountStore({ client: await connect(prefix), prefix, ownsClient: true });
  const queue = new RedisOfflineQueue({ client: await connect(prefix), prefix, ownsClient: true });
  try {
    await accounts.add('alice', 'pw');
    for (let i = 1; i <= 20; i++) await queue.put(entry('bob', i), keep);
    await redis.restart();
    // Commands sent while the client reconnects wait for it (node-redis's offline queue).
    assert.equal(await accounts.verify('alice', 'pw'), true);
    assert.equal(await queue.waiting('bob'), 20);
    assert.deepEqual((await queue.page('bob', null, 100)).map((e) => e.msgId), Array.from({ length: 20 }, (_, i) => `m${i + 1}`));
    const next = await queue.put(entry('bob', 21), keep);
    assert.ok(Number(next.id) > 20, 'ids go on after the restart, never reused');
  } finally {
    await accounts.close();
    await queue.close();
  }
});

test('Redis started again empty: the data-set marker reports it as an error, once; the bus makes its group again', { timeout: 60_000 }, async () => {
  const prefix = `empty${++n}:`;
  const logs: LogLine[] = [];
  const logger = createLogger({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const client = await connectRedis({ url: redis.url, prefix }, logger, 'test');
  const lost: string[] = [];
  const marker = new DataSetMarker(client, new RedisKeys(prefix), logger, (seen) => lost.push(seen));
  const first = await marker.check();
  assert.ok(logs.some((l) => l.msg?.includes('a new one was started')), 'a new data set is logged');
  assert.equal(await marker.check(), first, 'the same data set on the next check');
  const bus = new RedisDeliveryBus({ client: await connect(prefix), prefix, ownsClient: true, heartbeatMs: 100, blockMs: 200, logger, ackTimeoutMs: 5000 });
  const got: string[] = [];
  try {
    await bus.subscribe('n1', (d) => void got.push(d.frame));
    await bus.publish('n1', { users: ['bob'], frame: 'before' });
    await redis.restartEmpty();
    await until('the loss was detected', () => lost.length === 1, 15_000);
    assert.deepEqual(lost, [first]);
    const error = logs.find((l) => l.level === 50 && String(l.msg).includes('data set was lost'));
    assert.ok(error, `an error line says the data set was lost:\n${logs.map((l) => l.msg).join('\n')}`);
    assert.notEqual(marker.id, first, 'a new marker was written: the loss is reported once');
    // The subscriber registers again on its next heartbeat and its reader makes the group again.
    await until('the bus delivers again', async () => {
      try {
        await bus.publish('n1', { users: ['bob'], frame: 'after' });
        return true;
      } catch {
        return false;
      }
    }, 15_000);
    assert.deepEqual(got.filter((f) => f === 'before'), ['before']);
    assert.ok(got.includes('after'));
  } finally {
    await bus.close();
    await client.close();
  }
});

test("an acknowledgement nobody heard (the publisher's reply connection was not subscribed, as after a failover) is published again until it is", { timeout: 30_000 }, async () => {
  const prefix = `unheard${++n}:`;
  const subscriber = new RedisDeliveryBus({ client: await connect(prefix), prefix, ownsClient: true, heartbeatMs: 100, blockMs: 200, ackTimeoutMs: 5000 });
  const admin = await connect(prefix);
  const late = admin.duplicate();
  try {
    await subscriber.subscribe('n1', () => undefined);
    // A delivery whose publisher listens on `late-replies`, but only from 300 ms after it was made.
    const channel = `${prefix}late-replies`;
    await admin.sendCommand(['XADD', new RedisKeys(prefix).bus('n1', 'stream'), '*', 'users', '["bob"]', 'frame', '{}', 'reply', channel, 'pub', 'p1']);
    await new Promise((r) => setTimeout(r, 300));
    await late.connect();
    const heard = new Promise<string>((resolve) => void late.subscribe(channel, (message) => resolve(message)));
    const reply = await Promise.race([heard, new Promise<string>((resolve) => setTimeout(() => resolve('nothing within 3 s'), 3000))]);
    assert.ok(reply.startsWith('{'), reply);
    assert.deepEqual(JSON.parse(reply) as unknown, { pub: 'p1', group: 'g1', ok: true });
  } finally {
    await subscriber.close();
    if (late.isOpen) late.destroy();
    admin.destroy();
  }
});

test('a node that stops heartbeating has its sessions dropped by the other nodes within seconds', { timeout: 30_000 }, async () => {
  const prefix = `beat${++n}:`;
  const options = { prefix, ownsClient: true as const, heartbeatMs: 100, expiryMs: 600 };
  const dead = new RedisPresence({ ...options, client: await connect(prefix) });
  const alive = new RedisPresence({ ...options, client: await connect(prefix) });
  try {
    await dead.add('bob', 'n-dead', 's1');
    await dead.add('carol', 'n-dead', 's2');
    await alive.add('bob', 'n-alive', 's3');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await alive.nodesOf('bob'), ['n-alive', 'n-dead'], 'kept while it heartbeats');
    await dead.close(); // stops heartbeating and drops nothing: what a crash does
    const t0 = Date.now();
    await until('the dead node dropped', async () => (await alive.nodesOf('bob')).length === 1, 5000);
    assert.ok(Date.now() - t0 < 3000, `dropped after ${Date.now() - t0} ms`);
    assert.deepEqual(await alive.users(), ['bob']);
    assert.equal(await alive.count(), 1);
    assert.deepEqual(await alive.nodesOf('bob'), ['n-alive'], 'the living node keeps its own');
  } finally {
    await alive.close();
  }
});

test('a subscriber killed with SIGKILL in the middle of a delivery: the next run of its node gets it, and the publish is acknowledged then', { timeout: 60_000 }, async () => {
  const prefix = `kill${++n}:`;
  const script = path.join(dir, 'subscriber.ts');
  const src = (file: string): string => pathToFileURL(path.join(ROOT, 'src/server', file)).href;
  writeFileSync(script, `
import { connectRedis } from '${src('redis/client.ts')}';
import { RedisDeliveryBus } from '${src('redis/delivery-bus.ts')}';
import { silentLogger } from '${src('log.ts')}';
const prefix = ${JSON.stringify(prefix)};
const client = await connectRedis({ url: ${JSON.stringify(redis.url)}, prefix }, silentLogger(), 'child');
const bus = new RedisDeliveryBus({ client, prefix, ownsClient: true, blockMs: 200 });
await bus.subscribe('n1', (d) => {
  process.stdout.write('got ' + d.frame + '\\n');
  return new Promise(() => undefined); // never done: killed first
});
process.stdout.write('subscribed\\n');
`);
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const bus = new RedisDeliveryBus({ client: await connect(prefix), prefix, ownsClient: true, ackTimeoutMs: 20_000, blockMs: 200 });
  try {
    await until('the child subscribed', () => out.includes('subscribed'), 15_000);
    let acknowledged = false;
    const published = bus.publish('n1', { users: ['bob'], frame: 'kept' }).then(() => (acknowledged = true));
    await until('the child took the delivery', () => out.includes('got kept'), 10_000);
    child.kill('SIGKILL');
    await exited;
    assert.equal(acknowledged, false, 'not acknowledged by the killed node');
    // The node comes back (same node name: the same consumer group), and is handed the delivery again.
    const again: string[] = [];
    const back = new RedisDeliveryBus({ client: await connect(prefix), prefix, ownsClient: true, blockMs: 200 });
    try {
      await back.subscribe('n1', (d) => void again.push(d.frame));
      await published;
      assert.deepEqual(again, ['kept']);
    } finally {
      await back.close();
    }
  } finally {
    child.kill('SIGKILL');
    await bus.close();
  }
});
