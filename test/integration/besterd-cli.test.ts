// The daemon as a process: `besterd CONFIG`, --help, --check, config errors, SIGTERM.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { FAKE_HANDLER, ROOT, tempDir } from '../helpers/daemon.ts';
import { spawnBesterd } from '../helpers/besterd-process.ts';
import { loggedIn, message } from '../helpers/raw-client.ts';

const BESTERD = path.join(ROOT, 'src/cli/besterd.ts');

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BESTERD, ...args], { encoding: 'utf8', timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('besterd --help explains the one argument and exits 0', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /Usage: besterd \[options\] CONFIG/);
});

test('besterd without a config is a usage error (exit 2)', () => {
  const r = run([]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /expected exactly one argument/);
});

test('a broken config stops the start with the key named, exit 1', () => {
  const dir = tempDir();
  const file = path.join(dir, 'server.conf');
  writeFileSync(file, JSON.stringify({ network: { types: ['tcp4'], tcp4: { port: 'abc' } } }));
  for (const args of [[file], ['--check', file]]) {
    const r = run(args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, /network\.tcp4\.port: must be a port number/);
  }
  writeFileSync(file, '{"network": ');
  assert.match(run([file]).stderr, /invalid JSON/);
  assert.match(run([path.join(dir, 'nope.conf')]).stderr, /cannot read configuration file .*ENOENT/);
  rmSync(dir, { recursive: true, force: true });
});

test('a Redis database block whose Redis cannot be reached stops the start with a message saying so', () => {
  const dir = tempDir();
  const file = path.join(dir, 'server.conf');
  // Port 1 on loopback: nothing listens there (test/integration/redis-*.test.ts start a real Redis).
  writeFileSync(file, JSON.stringify({
    network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
    database: { type: 'redis', redis: { address: '127.0.0.1', port: '1' } },
  }));
  const r = run([file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^besterd: cannot connect to Redis at redis:\/\/127\.0\.0\.1:1: /);
  rmSync(dir, { recursive: true, force: true });
});

test('a port already in use stops the start with a clear message', async () => {
  const net = await import('node:net');
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  const dir = tempDir();
  const file = path.join(dir, 'server.conf');
  writeFileSync(file, JSON.stringify({ network: { types: ['tcp4'], tcp4: { port: String(port), address: '127.0.0.1' } } }));
  const r = run([file]);
  blocker.close();
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot listen on tcp4:\/\/127\.0\.0\.1:\d+: EADDRINUSE/);
  rmSync(dir, { recursive: true, force: true });
});

test('besterd CONFIG runs, serves clients and handlers, and stops cleanly on SIGTERM', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'server.conf');
  writeFileSync(file, JSON.stringify({
    network: { types: ['tcp4', 'unix'], tcp4: { port: '0', address: '127.0.0.1' }, unix: { address: 'b.sock' } },
    handlers: { availableTypes: ['fake'], typeMap: { fake: { handlerBinary: process.execPath, handlerArgs: [FAKE_HANDLER], unixDomainSocketPath: 'fake.sock' } } },
  }));
  const store = await openSqliteAccountStore(path.join(dir, 'bester.db'));
  await store.add('alice', 'secret-pw');
  await store.close();

  const { child, logs, started, exited } = spawnBesterd(process.execPath, [BESTERD, file], 15_000);
  const { port } = await started;

  const { client, answer } = await loggedIn({ port: port! }, 'alice', 'secret-pw');
  assert.equal((answer as { header: { status: string } }).header.status, 'good');
  client.send(message('fake', 'm1', { to: ['alice'], text: 'to myself' }));
  assert.equal(((await client.next()) as { header: { messageType: string } }).header.messageType, 'receivedMessage');
  assert.equal(((await client.next()) as { header: { status: string } }).header.status, 'good');

  child.kill('SIGTERM');
  assert.equal(await exited, 0, 'exit 0 after SIGTERM');
  assert.equal(existsSync(path.join(dir, 'b.sock')), false, 'listener socket removed');
  assert.equal(existsSync(path.join(dir, 'fake.sock')), false, 'handler socket removed');
  assert.ok(logs.every((l) => !JSON.stringify(l).includes('secret-pw')), 'the password never appears in the logs');
  assert.ok(logs.some((l) => l.msg === 'logged in' && l.user === 'alice'));
  client.close();
  rmSync(dir, { recursive: true, force: true });
});
