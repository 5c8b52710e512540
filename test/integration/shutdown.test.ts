// Graceful shutdown (docs/protocol.md §3.6): listeners close first, handler calls in progress
// finish within shutdown.graceMs and are answered, new messages get `shutting_down`, then every
// connection is told and closed. In process (server.close()) and as a process (SIGTERM).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { FAKE_HANDLER, ROOT, startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message, RawClient } from '../helpers/raw-client.ts';

const BESTERD = path.join(ROOT, 'src/cli/besterd.ts');

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

/** Every frame until the server closes the connection (bounded). */
async function drain(c: RawClient, timeoutMs = 10_000): Promise<Frame[]> {
  const frames: Frame[] = [];
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) assert.fail('the connection was not closed in time');
    const frame = (await c.next(left)) as Frame | null;
    if (frame === null) return frames;
    frames.push(frame);
  }
}

async function as(d: TestDaemon, user: string): Promise<RawClient> {
  const { client, answer } = await loggedIn({ port: d.port }, user, `${user}-pw`);
  assert.equal((answer as Frame).header.status, 'good');
  return client;
}

/** besterd as a process on `file`: its exit code, its tcp4 port once started, and its log lines so far. */
async function spawnBesterd(file: string): Promise<{ child: ChildProcess; exited: Promise<number | null>; port: number; lines: string[] }> {
  const child = spawn(process.execPath, [BESTERD, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('besterd did not start in 15 s')), 15_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const entry = JSON.parse(line) as { msg?: string; listeners?: string[] };
      if (entry.msg !== 'besterd started') return;
      clearTimeout(timer);
      resolve(Number(entry.listeners!.find((a) => a.startsWith('tcp4://'))!.split(':').pop()));
    });
  });
  child.stderr.resume();
  return { child, exited, port, lines };
}

const inFlight = (d: TestDaemon, type: string): number => d.server.handlerStatus().find((s) => s.type === type)?.inFlight ?? -1;

describe('graceful shutdown: server.close()', () => {
  test('a call in progress finishes and is delivered; new messages get shutting_down; then every connection is told', async () => {
    const d = await startTestDaemon({ handlers: { slow: {} }, extra: { shutdown: { graceMs: 5000 } } });
    const alice = await as(d, 'alice');
    const bob = await as(d, 'bob');
    alice.send(message('slow', 's1', { mode: 'delay', ms: 400, to: ['bob'] }));
    await waitUntil('the call in flight', () => inFlight(d, 'slow') === 1);

    const closed = d.server.close();
    await assert.rejects(RawClient.connect({ port: d.port }), /ECONNREFUSED/, 'the listener is closed first');
    bob.send(message('slow', 'b1', { to: ['bob'] }));
    bob.send(message('dummy', 'b2', null));
    const [aliceFrames, bobFrames] = await Promise.all([drain(alice), drain(bob)]);
    await closed;

    assert.deepEqual(
      aliceFrames.map((f) => [f.payload.id, f.header.status, f.header.code]),
      [
        ['s1', 'good', undefined],
        [null, 'bad', 'shutting_down'],
      ],
    );
    const refused = bobFrames.find((f) => f.payload.id === 'b1');
    assert.equal(refused?.header.code, 'shutting_down', 'a message during the grace period is refused');
    const delivery = bobFrames.findIndex((f) => f.header.messageType === 'receivedMessage');
    const last = bobFrames.at(-1);
    assert.ok(delivery >= 0, 'the call in progress was delivered');
    assert.equal(last?.header.messageType, 'error');
    assert.equal(last?.header.code, 'shutting_down');
    assert.equal(existsSync(d.unixPath), false, 'the listener socket file is removed');
    rmSync(d.dir, { recursive: true, force: true });
  });

  test('calls still running when the grace period ends are cancelled and answered shutting_down', async () => {
    const d = await startTestDaemon({ handlers: { slow: { timeoutMs: 60_000 } }, extra: { shutdown: { graceMs: 300 } } });
    const alice = await as(d, 'alice');
    alice.send(message('slow', 'h1', { mode: 'hang' }));
    await waitUntil('the call in flight', () => inFlight(d, 'slow') === 1);
    const started = performance.now();
    const frames = drain(alice);
    await d.server.close();
    assert.ok(performance.now() - started < 5000, 'close() is bounded by the grace period, not the handler timeout');
    assert.deepEqual(
      (await frames).map((f) => [f.payload.id, f.header.status, f.header.code]),
      [
        ['h1', 'bad', 'shutting_down'],
        [null, 'bad', 'shutting_down'],
      ],
    );
    rmSync(d.dir, { recursive: true, force: true });
  });
});

describe('graceful shutdown: besterd and repeated signals', () => {
  test('a second SIGTERM ends the grace period: the hanging call is answered shutting_down and the stop is still clean', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'server.conf');
    writeFileSync(
      file,
      JSON.stringify({
        network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
        handlers: {
          availableTypes: ['slow'],
          typeMap: { slow: { handlerBinary: process.execPath, handlerArgs: [FAKE_HANDLER], unixDomainSocketPath: 'slow.sock', timeoutMs: 120_000 } },
        },
        shutdown: { graceMs: 60_000 },
      }),
    );
    const store = await openSqliteAccountStore(path.join(dir, 'bester.db'));
    await store.add('alice', 'alice-pw');
    await store.close();
    const { child, exited, port, lines } = await spawnBesterd(file);
    try {
      const { client: alice } = await loggedIn({ port }, 'alice', 'alice-pw');
      alice.send(message('slow', 'h1', { mode: 'hang' }));
      await sleep(300); // the call is in progress
      child.kill('SIGTERM');
      await waitUntil('the first signal logged', () => lines.some((l) => l.includes('"shutting down"')));
      const early = await Promise.race([exited, sleep(500, 'running', { ref: false })]);
      assert.equal(early, 'running', 'the first signal waits for the call (grace period of 60 s)');
      const hurriedAt = performance.now();
      child.kill('SIGTERM');
      assert.equal(await Promise.race([exited, sleep(15_000, 'timeout', { ref: false })]), 0, 'exit 0 soon after the second signal');
      assert.ok(performance.now() - hurriedAt < 10_000);
      const frames = await drain(alice);
      assert.deepEqual(frames.map((f) => [f.payload.id, f.header.status, f.header.code]).slice(0, 1), [['h1', 'bad', 'shutting_down']]);
      assert.ok(lines.some((l) => l.includes('second signal')), 'the second signal is logged');
      assert.equal(existsSync(path.join(dir, 'slow.sock')), false, 'socket files removed: the stop stayed clean');
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('graceful shutdown: besterd and SIGTERM under load', () => {
  test('every good report was delivered, at most one report per message, exit 0, socket files removed', async () => {
    const dir = tempDir();
    const senders = ['s0', 's1', 's2', 's3', 's4', 's5'];
    const recipients = ['r0', 'r1'];
    const file = path.join(dir, 'server.conf');
    writeFileSync(
      file,
      JSON.stringify({
        network: { types: ['tcp4', 'unix'], tcp4: { port: '0', address: '127.0.0.1' }, unix: { address: 'b.sock' } },
        handlers: {
          availableTypes: ['slow'],
          typeMap: { slow: { handlerBinary: process.execPath, handlerArgs: [FAKE_HANDLER], unixDomainSocketPath: 'slow.sock' } },
        },
        shutdown: { graceMs: 5000 },
      }),
    );
    const store = await openSqliteAccountStore(path.join(dir, 'bester.db'));
    for (const name of [...senders, ...recipients]) await store.add(name, `${name}-pw`);
    await store.close();

    const { child, exited, port } = await spawnBesterd(file);

    try {
      const login = async (name: string): Promise<RawClient> => {
        const { client, answer } = await loggedIn({ port }, name, `${name}-pw`);
        assert.equal((answer as Frame).header.status, 'good');
        return client;
      };
      const receivers = await Promise.all(recipients.map(login));
      const received = receivers.map((c) => drain(c, 30_000));
      const reports = new Map<string, Array<{ status: unknown; code: unknown; afterStop: boolean }>>();
      let stopSent = false;
      const load = senders.map(async (name, index) => {
        const c = await login(name);
        for (let i = 0; ; i++) {
          const id = `${name}-${i}`;
          c.send(message('slow', id, { mode: 'delay', ms: 200, to: [recipients[index % recipients.length]], id }));
          const frame = (await c.next(30_000)) as Frame | null;
          if (frame === null) return;
          if (frame.header.messageType !== 'statusReport') {
            assert.equal(frame.header.code, 'shutting_down');
            return;
          }
          const reportId = String(frame.payload.id);
          reports.set(reportId, [...(reports.get(reportId) ?? []), { status: frame.header.status, code: frame.header.code, afterStop: stopSent }]);
        }
      });
      await waitUntil('a few messages through', () => reports.size >= senders.length * 2, 20_000);
      stopSent = true;
      child.kill('SIGTERM');
      await Promise.all(load);
      const deliveries = (await Promise.all(received)).flat();

      const deliveredIds = new Set(
        deliveries.filter((f) => f.header.messageType === 'receivedMessage').map((f) => (f.payload.data as { id: string }).id),
      );
      let goodAfterStop = 0;
      for (const [id, list] of reports) {
        assert.equal(list.length, 1, `at most one report for ${id}`);
        const [report] = list as [(typeof list)[number]];
        if (report.status === 'good') {
          assert.ok(deliveredIds.has(id), `${id} was reported good, so it reached its recipient before the close`);
          if (report.afterStop) goodAfterStop++;
        } else {
          assert.equal(report.code, 'shutting_down', `${id}`);
        }
      }
      assert.ok(goodAfterStop > 0, 'calls in progress at SIGTERM finished within the grace period');
      for (const c of receivers) assert.equal(c.closed, true);
      assert.equal(await Promise.race([exited, sleep(20_000, 'timeout', { ref: false })]), 0, 'exit 0');
      for (const f of ['b.sock', 'slow.sock', 'informer.sock']) assert.equal(existsSync(path.join(dir, f)), false, `${f} removed`);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
