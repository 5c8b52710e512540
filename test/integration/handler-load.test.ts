// Handlers under load and faults (docs/protocol.md §4.1, §4.1.1): the in-flight cap refuses at
// once with `overloaded`; a handler killed in the middle of a load is restarted, every message gets
// exactly one status report, and other handler types never notice.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

async function next(c: RawClient, timeoutMs = 5000): Promise<Frame> {
  const frame = (await c.next(timeoutMs)) as Frame | null;
  assert.ok(frame, 'the connection closed while a frame was expected');
  return frame;
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

function users(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [n, `${n}-pw`]));
}

async function as(d: TestDaemon, user: string): Promise<RawClient> {
  const { client, answer } = await loggedIn({ port: d.port }, user, `${user}-pw`);
  assert.equal((answer as Frame).header.status, 'good');
  return client;
}

function handler(d: TestDaemon, type: string): ReturnType<TestDaemon['server']['handlerStatus']>[number] {
  const status = d.server.handlerStatus().find((s) => s.type === type);
  assert.ok(status, `no handler ${type}`);
  return status;
}

describe('handlers under load', () => {
  test('maxInFlight 3: three calls hang, a fourth from another connection is overloaded at once; later calls work', async () => {
    const names = ['u0', 'u1', 'u2', 'u3'];
    const d = await startTestDaemon({
      handlers: { slow: { timeoutMs: 1500, maxInFlight: 3 }, other: {} },
      users: users(names),
    });
    const clients: RawClient[] = [];
    try {
      for (const n of names) clients.push(await as(d, n));
      const [h0, h1, h2, fourth] = clients as [RawClient, RawClient, RawClient, RawClient];
      for (const [i, c] of [h0, h1, h2].entries()) c.send(message('slow', `hang${i}`, { mode: 'hang' }));
      await waitUntil('three calls in flight', () => handler(d, 'slow').inFlight === 3);

      const started = performance.now();
      fourth.send(message('slow', 'f1', { to: ['u3'] }));
      const refused = await next(fourth, 1000);
      const elapsed = performance.now() - started;
      assert.equal(refused.payload.id, 'f1');
      assert.equal(refused.header.status, 'bad');
      assert.equal(refused.header.code, 'overloaded');
      assert.match(String(refused.header.reason), /handler "slow" is overloaded: 3 calls/);
      assert.ok(elapsed < 1000, `refused at once, not after the handler timeout (${Math.round(elapsed)} ms)`);
      assert.equal(handler(d, 'slow').inFlight, 3, 'the refused call took no slot');

      // Another handler type is not affected by this one's cap.
      fourth.send(message('other', 'o1', { to: [] }));
      assert.equal((await next(fourth)).header.status, 'good');

      for (const [i, c] of [h0, h1, h2].entries()) {
        const report = await next(c, 5000);
        assert.deepEqual([report.payload.id, report.header.code], [`hang${i}`, 'handler_timeout']);
      }
      assert.equal(handler(d, 'slow').inFlight, 0, 'every slot given back');
      fourth.send(message('slow', 'f2', { to: ['u3'] }));
      assert.equal((await next(fourth)).header.messageType, 'receivedMessage');
      assert.equal((await next(fourth)).header.status, 'good');
    } finally {
      for (const c of clients) c.close();
      await d.close();
    }
  });

  test('20 clients under load, handler SIGKILLed in the middle: restarted, exactly one report per message', async () => {
    const CLIENTS = 20;
    const PER_CLIENT = 25;
    const names = Array.from({ length: CLIENTS }, (_, i) => `w${i}`);
    const d = await startTestDaemon({ handlers: { work: {}, other: {} }, users: users([...names, 'watcher']) });
    const clients: RawClient[] = [];
    try {
      for (const n of names) clients.push(await as(d, n));
      const watcher = await as(d, 'watcher');
      clients.push(watcher);
      const firstPid = handler(d, 'work').pid;
      assert.ok(firstPid !== null);

      const reports = new Map<string, Frame[]>();
      const delivered = new Map<string, number>();
      let reportCount = 0;
      const load = names.map(async (name, index) => {
        const c = clients[index]!;
        for (let i = 0; i < PER_CLIENT; i++) {
          const id = `${name}-${i}`;
          c.send(message('work', id, { mode: 'delay', ms: 5, to: [name], id }));
          for (;;) {
            const frame = await next(c, 15_000);
            if (frame.header.messageType === 'receivedMessage') {
              const got = (frame.payload.data as { id: string }).id;
              delivered.set(got, (delivered.get(got) ?? 0) + 1);
              continue;
            }
            const reportId = String(frame.payload.id);
            reports.set(reportId, [...(reports.get(reportId) ?? []), frame]);
            reportCount++;
            if (reportId === id) break;
          }
          await sleep(15);
        }
      });

      // Another handler type, used all through the load and the fault.
      let loadDone = false;
      let otherSent = 0;
      const control = (async () => {
        while (!loadDone) {
          watcher.send(message('other', `c${otherSent}`, { to: [] }));
          const r = await next(watcher);
          assert.deepEqual([r.payload.id, r.header.status], [`c${otherSent}`, 'good'], 'the other handler is unaffected');
          otherSent++;
          await sleep(10);
        }
      })();

      await waitUntil('a third of the load done', () => reportCount >= (CLIENTS * PER_CLIENT) / 3, 30_000);
      process.kill(firstPid, 'SIGKILL');
      await Promise.all(load);
      loadDone = true;
      await control;

      // Exactly one report per message, and a good one means it was delivered, once.
      assert.equal(reports.size, CLIENTS * PER_CLIENT);
      let good = 0;
      for (const [id, frames] of reports) {
        assert.equal(frames.length, 1, `one report for ${id}`);
        const status = frames[0]!.header.status;
        if (status === 'good') {
          good++;
          assert.equal(delivered.get(id), 1, `${id} delivered once`);
        } else {
          assert.equal(status, 'bad');
          assert.ok(
            ['handler_unavailable', 'handler_bad_reply'].includes(String(frames[0]!.header.code)),
            `${id}: ${String(frames[0]!.header.code)}`,
          );
          assert.equal(delivered.get(id), undefined, `${id} failed and was not delivered`);
        }
      }
      assert.ok(good >= (CLIENTS * PER_CLIENT) / 3, `most messages before the kill were good (${good})`);
      assert.ok(otherSent > 0);

      // The handler came back, and works.
      await waitUntil('the handler restarted', () => {
        const s = handler(d, 'work');
        return s.state === 'ready' && s.pid !== null && s.pid !== firstPid;
      });
      assert.ok(handler(d, 'work').restarts >= 1);
      const late = await as(d, 'w0');
      clients.push(late);
      late.send(message('work', 'after', { to: [] }));
      assert.equal((await next(late)).header.status, 'good');
      assert.equal(d.server.registry.connectionCount, CLIENTS + 2, 'the daemon kept every connection');
    } finally {
      for (const c of clients) c.close();
      await d.close();
    }
  });
});
