// Offline delivery survives a crash (docs/protocol.md §4.3.1): `besterd` as a child process keeps
// N messages for bob, is killed with SIGKILL, a new besterd starts on the same config folder, and
// bob's login gets exactly those N, in order, once.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { FAKE_HANDLER, ROOT, tempDir } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';

const BESTERD = path.join(ROOT, 'src/cli/besterd.ts');

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

interface Daemon {
  readonly child: ChildProcess;
  readonly port: number;
  /** Handler processes it started (a SIGKILLed daemon leaves them behind). */
  readonly handlerPids: number[];
  readonly exited: Promise<unknown>;
}

/** Starts `besterd CONFIG` and reads its JSON log lines until it says which port it got. */
async function startBesterd(config: string): Promise<Daemon> {
  const child = spawn(process.execPath, [BESTERD, config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const handlerPids: number[] = [];
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('besterd did not start in 15 s')), 15_000);
    void exited.then(() => reject(new Error('besterd exited before it started')));
    lines.on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (entry.msg === 'handler ready' && typeof entry.pid === 'number') handlerPids.push(entry.pid);
      if (entry.msg === 'besterd started') {
        clearTimeout(timer);
        const tcp = (entry.listeners as string[]).find((a) => a.startsWith('tcp4://'))!;
        resolve(Number(tcp.split(':').pop()));
      }
    });
  });
  child.stderr.resume();
  return { child, port, handlerPids, exited };
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function next(c: RawClient, timeoutMs = 5000): Promise<Frame> {
  const frame = (await c.next(timeoutMs)) as Frame | null;
  assert.ok(frame !== null, 'the connection closed');
  return frame;
}

test('kept messages survive kill -9: after a restart bob gets every acknowledged one, in order, once', async () => {
  const N = 40;
  const dir = tempDir();
  const config = path.join(dir, 'server.conf');
  writeFileSync(config, JSON.stringify({
    network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
    handlers: {
      availableTypes: ['fake'],
      typeMap: { fake: { handlerBinary: process.execPath, handlerArgs: [FAKE_HANDLER], unixDomainSocketPath: 'fake.sock' } },
    },
    supervision: { stopTimeoutMs: 1000 },
    informer: { enabled: false },
  }));
  const accounts = await openSqliteAccountStore(path.join(dir, 'bester.db'));
  await accounts.add('alice', 'alice-pw');
  await accounts.add('bob', 'bob-pw');
  await accounts.close();

  const daemons: Daemon[] = [];
  const clients: RawClient[] = [];
  try {
    const first = await startBesterd(config);
    daemons.push(first);
    const { client: alice, answer } = await loggedIn({ port: first.port }, 'alice', 'alice-pw');
    clients.push(alice);
    assert.equal((answer as Frame).header.status, 'good');
    // All sent at once; the daemon handles them one at a time and answers each once it is kept.
    for (let n = 1; n <= N; n++) alice.send(message('fake', `m${n}`, { to: ['bob'], n }));
    for (let n = 1; n <= N; n++) {
      const report = await next(alice);
      assert.deepEqual(report, { header: { status: 'good', messageType: 'statusReport', stored: ['bob'] }, payload: { id: `m${n}` } });
    }

    first.child.kill('SIGKILL');
    await first.exited;
    for (const pid of first.handlerPids) killQuietly(pid); // the orphaned handler, so the next run starts its own

    const second = await startBesterd(config);
    daemons.push(second);
    const { client: bob, answer: bobAnswer } = await loggedIn({ port: second.port }, 'bob', 'bob-pw');
    clients.push(bob);
    assert.equal((bobAnswer as Frame).header.status, 'good');
    for (let n = 1; n <= N; n++) {
      assert.deepEqual(await next(bob), { header: { messageType: 'receivedMessage' }, payload: { data: { to: ['bob'], n }, type: 'fake' } });
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(bob.queued, 0, 'no more than the N');
  } finally {
    for (const c of clients) c.close();
    for (const daemon of daemons) {
      daemon.child.kill('SIGTERM');
      const timer = setTimeout(() => daemon.child.kill('SIGKILL'), 5000);
      await daemon.exited;
      clearTimeout(timer);
      for (const pid of daemon.handlerPids) killQuietly(pid);
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
