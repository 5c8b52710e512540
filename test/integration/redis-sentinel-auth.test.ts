// Redis behind a Sentinel, both with passwords (docs/configuration.md database.redis.sentinel):
// the server with `requirepass`, the Sentinel with its own `requirepass` and `sentinel auth-pass`
// for the server. A daemon given `password` and `sentinelPasswordFile` finds the master and serves
// logins and deliveries; a daemon given a wrong Sentinel password does not start, and says why.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../helpers/daemon.ts';
import { HAVE_REDIS, freePort, killChild, spawnRedisServer, startRedis, type RedisChild, type TestRedis } from '../helpers/redis-server.ts';
import { redisCli } from '../helpers/redis-sentinel.ts';
import { until } from '../helpers/until.ts';
import { addRedisUsers, loginOn, nextFrame, RedisNodes, type Frame } from '../helpers/redis-nodes.ts';
import { message } from '../helpers/raw-client.ts';

const NAME = 'bester-auth';
const SERVER_PW = 'server-secret-4b1d';
const SENTINEL_PW = 'sentinel-secret-77c2';

describe('Redis and its Sentinel with passwords', { skip: HAVE_REDIS ? false : 'redis-server is not installed', timeout: 60_000 }, () => {
  let server: TestRedis;
  let sentinel: RedisChild | null = null;
  let sentinelPort = 0;
  const dir = tempDir('bt-sentinel-auth-');
  const nodes: RedisNodes[] = [];

  before(async () => {
    server = await startRedis({ args: ['--requirepass', SERVER_PW] });
    sentinelPort = await freePort();
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(conf, [
      `port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`, 'protected-mode no', 'daemonize no', 'logfile ""',
      `requirepass ${SENTINEL_PW}`,
      `sentinel monitor ${NAME} 127.0.0.1 ${server.port} 1`,
      `sentinel auth-pass ${NAME} ${SERVER_PW}`,
      '',
    ].join('\n'));
    sentinel = await spawnRedisServer([conf, '--sentinel'], sentinelPort);
    await until('the Sentinel reaches its master with the password', async () => {
      const master = await redisCli(sentinelPort, '-a', SENTINEL_PW, '--no-auth-warning', 'SENTINEL', 'MASTER', NAME);
      const lines = master.trim().split('\n');
      const flags = lines[lines.indexOf('flags') + 1] ?? '';
      return flags === 'master';
    }, 15_000, () => sentinel?.output() ?? '');
    writeFileSync(path.join(dir, 'sentinel-password'), `${SENTINEL_PW}\n`, { mode: 0o600 });
  });

  after(async () => {
    for (const n of nodes) await n.stop();
    await killChild(sentinel?.child ?? null);
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const sentinelBlock = (sentinelSecret: Record<string, string>): Record<string, unknown> => ({
    name: NAME, nodes: [`127.0.0.1:${sentinelPort}`], password: SERVER_PW, ...sentinelSecret,
  });

  test('with the passwords, a user added through the Sentinel logs in and gets a delivery', async () => {
    await addRedisUsers({
      url: `redis://127.0.0.1:${sentinelPort}`, prefix: 'bester:',
      sentinel: { name: NAME, nodes: [{ host: '127.0.0.1', port: sentinelPort }], password: SERVER_PW, sentinelPassword: SENTINEL_PW },
    }, ['alice', 'bob']);
    // The account really is in the password-protected server.
    assert.match(await redisCli(server.port, '-a', SERVER_PW, '--no-auth-warning', 'HEXISTS', 'bester:{accounts}:users', 'alice'), /1/);
    const passwordFile = path.join(dir, 'sentinel-password');
    const set = new RedisNodes({ sentinel: sentinelBlock({ sentinelPasswordFile: passwordFile }) });
    nodes.push(set);
    const node = await set.start('n1');
    const alice = await loginOn(node, 'alice');
    const bob = await loginOn(node, 'bob');
    alice.send(message('fake', 'm1', { to: ['bob'], text: 'through the Sentinel' }));
    assert.deepEqual((await nextFrame(bob, 5000))?.payload, { data: { to: ['bob'], text: 'through the Sentinel' }, type: 'fake' });
    assert.equal(((await alice.next()) as Frame).header.status, 'good');
    alice.close();
    bob.close();
  });

  test('a wrong Sentinel password, a wrong server password, an unknown master: the daemon does not start, and says which', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['wrong Sentinel password', sentinelBlock({ sentinelPassword: 'not-the-password' }), /Sentinel 127\.0\.0\.1:\d+: WRONGPASS/],
      ['wrong server password', { ...sentinelBlock({ sentinelPassword: SENTINEL_PW }), password: 'not-the-password' }, /names the master 127\.0\.0\.1:\d+, which answered: WRONGPASS/],
      ['unknown master', { ...sentinelBlock({ sentinelPassword: SENTINEL_PW }), name: 'nope' }, /knows no master named "nope"/],
    ];
    for (const [what, block, reason] of cases) {
      const set = new RedisNodes({ sentinel: block });
      nodes.push(set);
      const started = Date.now();
      await assert.rejects(set.start('n2'), (err: Error) => {
        assert.match(err.message, /cannot connect to Redis/, `${what}: ${err.message}`);
        assert.match(err.message.split('\n')[0]!, reason, `${what}: ${err.message}`);
        return true;
      });
      assert.ok(Date.now() - started < 15_000, `${what}: refused after ${Date.now() - started} ms`);
    }
  });
});
