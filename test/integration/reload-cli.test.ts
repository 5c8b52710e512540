// Reloading a running besterd process as an operator does (docs/operations.md, "Reloading the
// configuration"): SIGHUP, `bester reload` and `bester handler restart TYPE`, with a client
// connected throughout.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { connectInformer } from '../../src/sdk/informer.ts';
import { runBester } from '../helpers/bester-cli.ts';
import { spawnBesterd } from '../helpers/besterd-process.ts';
import { rawConfig, ROOT, tempDir, writeTestConfig, type TestDaemonOptions } from '../helpers/daemon.ts';
import { loggedIn, message } from '../helpers/raw-client.ts';

const BESTERD = path.join(ROOT, 'src/cli/besterd.ts');

interface Report {
  header: { status?: string; code?: string };
}

async function until<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!ok(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    value = await probe();
  }
  return value;
}

test('SIGHUP, bester reload and bester handler restart change a running besterd; the client stays connected', async () => {
  const dir = tempDir();
  const options: TestDaemonOptions = { handlers: { echo: {} }, listeners: ['tcp4', 'unix'] };
  const file = writeTestConfig(dir, rawConfig(dir, options));
  const store = await openSqliteAccountStore(path.join(dir, 'bester.db'));
  await store.add('alice', 'alice-pw');
  await store.close();

  const { child, logs, started, exited } = spawnBesterd(process.execPath, [BESTERD, file], 15_000);
  try {
    const port = (await started).port!;
    const informerPath = path.join(dir, 'informer.sock');
    const informer = await connectInformer(informerPath);
    const handlers = async (): Promise<Array<{ type: string; pid: number | null; state: string }>> => (await informer.serverInfo()).handlers ?? [];

    const { client, answer } = await loggedIn({ port }, 'alice', 'alice-pw');
    assert.equal((answer as Report).header.status, 'good');
    const ask = async (type: string): Promise<Report> => {
      client.send(message(type, type, { to: [] }));
      return (await client.next()) as Report;
    };

    // SIGHUP: a handler added to the file starts and answers.
    writeTestConfig(dir, rawConfig(dir, { ...options, handlers: { echo: {}, added: {} } }));
    child.kill('SIGHUP');
    const after = await until(handlers, (list) => list.some((h) => h.type === 'added' && h.state === 'ready'), 10_000);
    assert.deepEqual(after.map((h) => h.type), ['echo', 'added']);
    assert.equal((await ask('added')).header.status, 'good');

    // bester handler restart: a new process for echo.
    const oldPid = after.find((h) => h.type === 'echo')!.pid;
    const restart = await runBester(['handler', 'restart', 'echo', '--informer', informerPath]);
    assert.equal(restart.code, 0, restart.stderr);
    assert.equal(restart.stdout, 'handler echo restarted\n');
    const newPid = (await handlers()).find((h) => h.type === 'echo')!.pid;
    assert.ok(newPid !== null && newPid !== oldPid, `echo runs as a new process (${oldPid} -> ${newPid})`);
    assert.equal((await ask('echo')).header.status, 'good');
    const unknown = await runBester(['handler', 'restart', 'nosuch', '--informer', informerPath]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /cannot restart handler "nosuch": no handler of that type is configured/);

    // bester reload: a removed handler; then a broken file is refused with its error, exit 1.
    writeTestConfig(dir, rawConfig(dir, options));
    const reload = await runBester(['reload', '--config', file]);
    assert.equal(reload.code, 0, reload.stderr);
    assert.equal(reload.stdout, 'reloaded: handlers.typeMap.added\n');
    assert.equal((await ask('added')).header.code, 'unknown_type');
    writeTestConfig(dir, rawConfig(dir, { ...options, extra: { limits: { maxFrameBytes: 'big' } } }));
    const refused = await runBester(['reload', '--informer', informerPath]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused, the running one is kept:\nlimits\.maxFrameBytes: /);
    assert.equal((await ask('echo')).header.status, 'good', 'the running config still serves');

    assert.equal(client.closed, false, 'the client stayed connected through all of it');
    assert.ok(logs.some((l) => l.msg === 'reloading the configuration' && l.signal === 'SIGHUP'));
    await informer.close();
    client.close();
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
