// The original repository's server.conf (shared/original-besterd/) with its "database": {"type":
// "redis", ...} block, run against a real redis-server this test starts: copied to a temp dir,
// its listeners' ports set to 0 on loopback and its redis address/port pointed at the test's
// Redis, nothing else changed. A user added with `bester user add --config` logs in to `besterd`;
// the password is kept as an scrypt hash in one hash, never in clear, never under the bare name.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from 'redis';
import { runBester } from '../helpers/bester-cli.ts';
import { originalLayout, runBesterdIn, startedPort } from '../helpers/original-besterd.ts';
import { tempDir } from '../helpers/daemon.ts';
import { loggedIn } from '../helpers/raw-client.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

const dir = tempDir('bt-redis-orig-');
let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the original server.conf starts against Redis; a user added with `bester user add` logs in', { timeout: 60_000 }, async () => {
  const conf = originalLayout(dir);
  assert.equal(conf['database']!['type'], 'redis', "the original's own database block");
  conf['database']!['redis'] = { ...conf['database']!['redis'], address: '127.0.0.1', port: String(redis.port) };
  writeFileSync(path.join(dir, 'server.conf'), JSON.stringify(conf, null, '\t'));

  const added = await runBester(['user', 'add', 'tbk', '--config', path.join(dir, 'server.conf'), '--password-stdin'], { input: 'passwd\n' });
  assert.equal(added.code, 0, added.stderr);

  // What Redis holds: one hash of scrypt hashes, no key named after the user, no clear password.
  const inspect = createClient({ url: redis.url });
  inspect.on('error', () => undefined);
  await inspect.connect();
  try {
    const keys = await inspect.keys('*'); // the test's own Redis: KEYS is fine here, never in the daemon
    assert.ok(!keys.some((k) => k === 'tbk' || k.endsWith(':tbk')), `keys: ${keys.join(', ')}`);
    const record = JSON.parse((await inspect.hGet('bester:{accounts}:users', 'tbk')) ?? '{}') as { hash?: string };
    assert.match(record.hash ?? '', /^scrypt\$N=16384,r=8,p=1\$/);
    assert.ok(!JSON.stringify(record).includes('passwd'));
  } finally {
    inspect.destroy();
  }

  const daemon = runBesterdIn(dir);
  const { shown, exited } = daemon;
  try {
    const port = await startedPort(daemon);
    const good = await loggedIn({ port }, 'tbk', 'passwd');
    assert.equal((good.answer as { header: { status: string } }).header.status, 'good', shown());
    good.client.close();
    const bad = await loggedIn({ port }, 'tbk', 'wrong');
    assert.notEqual((bad.answer as { header: { status: string } }).header.status, 'good');
    bad.client.close();
  } finally {
    daemon.child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, shown());
});
