// The persistent handler protocol, multiplex/1 (docs/protocol.md §4.5), behind a real daemon with
// real handler processes: negotiated with SDK handlers, never offered to original ones (which are
// never sent an empty connection), replies matched by id, timeouts and a killed handler, the
// handler's `connections`, and the protocol in use as handlerStatus() reports it.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { SDK_HANDLER, startTestDaemon, type HandlerSpec, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** What the SDK fixture puts in each delivery. */
interface Echo {
  data: { id?: string };
  pid: number;
  connections: number;
}

const NAMES = ['u0', 'u1', 'u2', 'u3', 'u4'];

function sdk(extra: Partial<HandlerSpec> = {}, args: readonly string[] = []): HandlerSpec {
  return { binary: process.execPath, args: [SDK_HANDLER, ...args], ...extra };
}

async function daemon(handlers: Record<string, HandlerSpec>): Promise<{ d: TestDaemon; c: RawClient[] }> {
  const d = await startTestDaemon({ handlers, users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])) });
  const c: RawClient[] = [];
  for (const n of NAMES) {
    const { client, answer } = await loggedIn({ port: d.port }, n, `${n}-pw`);
    assert.equal((answer as Frame).header.status, 'good');
    c.push(client);
  }
  return { d, c };
}

async function close(d: TestDaemon, c: readonly RawClient[]): Promise<void> {
  for (const client of c) client.close();
  await d.close();
}

async function next(c: RawClient, timeoutMs = 5000): Promise<Frame> {
  const frame = (await c.next(timeoutMs)) as Frame | null;
  assert.ok(frame, 'the connection closed while a frame was expected');
  return frame;
}

/** Sends one message to `to: [self]` and returns [delivery data, status report]. */
async function roundTrip(client: RawClient, user: string, type: string, id: string, data: object = {}): Promise<[Echo, Frame]> {
  client.send(message(type, id, { ...data, to: [user], id }));
  const delivery = await next(client);
  assert.equal(delivery.header.messageType, 'receivedMessage', JSON.stringify(delivery));
  const report = await next(client);
  assert.deepEqual([report.payload.id, report.header.status], [id, 'good']);
  return [delivery.payload.data as Echo, report];
}

function pidOf(d: TestDaemon, type: string): number | null {
  return d.server.handlerStatus().find((s) => s.type === type)?.pid ?? null;
}

/** What handlerStatus() says the daemon speaks with the handler now (docs/protocol.md §9.4.3). */
function protocolOf(d: TestDaemon, type: string): { protocol: string; connections: number } | undefined {
  const status = d.server.handlerStatus().find((s) => s.type === type);
  return status && { protocol: status.protocol, connections: status.connections };
}

describe('multiplex/1 handler protocol', () => {
  test('auto: an SDK handler negotiates multiplex; a few connections carry many calls', async () => {
    const { d, c } = await daemon({ mx: sdk() });
    try {
      const [alice] = c as [RawClient];
      let last: Echo | null = null;
      for (let i = 0; i < 30; i++) [last] = await roundTrip(alice, 'u0', 'mx', `m${i}`);
      assert.ok(last);
      assert.ok(last.connections <= 2, `30 calls over at most 2 connections, got ${last.connections}`);
      assert.equal(last.pid, pidOf(d, 'mx'));
    } finally {
      await close(d, c);
    }
  });

  test('replies answered out of order are matched by id', async () => {
    const { d, c } = await daemon({ mx: sdk() });
    try {
      const [a, b, e] = c as [RawClient, RawClient, RawClient];
      await roundTrip(a, 'u0', 'mx', 'warm'); // negotiated; the next calls share its connection
      a.send(message('mx', 'slow', { mode: 'delay', ms: 400, to: ['u0'], id: 'slow' }));
      b.send(message('mx', 'mid', { mode: 'delay', ms: 150, to: ['u1'], id: 'mid' }));
      e.send(message('mx', 'fast', { mode: 'delay', ms: 1, to: ['u2'], id: 'fast' }));
      const order: string[] = [];
      await Promise.all(
        ([[a, 'slow'], [b, 'mid'], [e, 'fast']] as const).map(async ([client, id]) => {
          const delivery = await next(client);
          assert.equal((delivery.payload.data as Echo).data.id, id, 'each sender gets its own reply');
          const report = await next(client);
          assert.deepEqual([report.payload.id, report.header.status], [id, 'good']);
          order.push(id);
        }),
      );
      assert.deepEqual(order, ['fast', 'mid', 'slow']);
    } finally {
      await close(d, c);
    }
  });

  test('a call that times out does not affect the others on the same connection', async () => {
    const { d, c } = await daemon({ mx: sdk({ timeoutMs: 400 }) });
    try {
      const [a, b] = c as [RawClient, RawClient];
      const [warm] = await roundTrip(b, 'u1', 'mx', 'warm');
      a.send(message('mx', 'stuck', { mode: 'hang' }));
      await sleep(20);
      for (let i = 0; i < 5; i++) await roundTrip(b, 'u1', 'mx', `ok${i}`);
      const report = await next(a);
      assert.deepEqual([report.payload.id, report.header.code], ['stuck', 'handler_timeout']);
      const [after] = await roundTrip(b, 'u1', 'mx', 'after');
      assert.equal(after.pid, warm.pid);
      assert.ok(after.connections <= 2, `no reconnect after the timeout (${after.connections} connections)`);
    } finally {
      await close(d, c);
    }
  });

  test('a handler killed with calls in flight: each gets exactly one bad, then calls work after the restart', async () => {
    const { d, c } = await daemon({ mx: sdk({ timeoutMs: 5000 }) });
    try {
      const [a, b, e, f] = c as [RawClient, RawClient, RawClient, RawClient];
      const [warm] = await roundTrip(a, 'u0', 'mx', 'warm');
      for (const [i, client] of [a, b, e].entries()) client.send(message('mx', `p${i}`, { mode: 'delay', ms: 3000, to: [] }));
      await sleep(100);
      f.send(message('mx', 'boom', { mode: 'crash' }));
      for (const [i, client] of [a, b, e, f].entries()) {
        const id = i < 3 ? `p${i}` : 'boom';
        const report = await next(client);
        assert.deepEqual([report.payload.id, report.header.status, report.header.code], [id, 'bad', 'handler_bad_reply']);
        assert.match(String(report.header.reason), /handler connection closed/);
        assert.equal(await client.next(300).catch(() => 'nothing'), 'nothing', 'exactly one report');
      }
      const deadline = performance.now() + 10_000;
      while (pidOf(d, 'mx') === null || pidOf(d, 'mx') === warm.pid) {
        assert.ok(performance.now() < deadline, 'the handler was restarted');
        await sleep(20);
      }
      const [after] = await roundTrip(a, 'u0', 'mx', 'after');
      assert.notEqual(after.pid, warm.pid);
      assert.equal(after.connections, 1, 'the new process is spoken to over multiplex again');
    } finally {
      await close(d, c);
    }
  });

  test('protocol "original": a new connection per call, even to a handler that greets (its greeting is skipped)', async () => {
    const { d, c } = await daemon({ orig: sdk({ protocol: 'original' }, ['--multiplex']) });
    try {
      const [a] = c as [RawClient];
      const seen: number[] = [];
      for (let i = 0; i < 4; i++) seen.push((await roundTrip(a, 'u0', 'orig', `o${i}`))[0].connections);
      assert.deepEqual(seen, [1, 2, 3, 4]);
    } finally {
      await close(d, c);
    }
  });

  test('protocol "multiplex": works with an SDK handler; an original handler gets handler_bad_reply naming the greeting', async () => {
    const { d, c } = await daemon({ mx: sdk({ protocol: 'multiplex' }), fake: { protocol: 'multiplex', timeoutMs: 2000 } });
    try {
      const [a] = c as [RawClient];
      for (let i = 0; i < 5; i++) await roundTrip(a, 'u0', 'mx', `x${i}`);
      a.send(message('fake', 'f', { to: ['u0'] }));
      const report = await next(a);
      assert.deepEqual([report.payload.id, report.header.code], ['f', 'handler_bad_reply']);
      assert.match(String(report.header.reason), /no multiplex greeting/);
    } finally {
      await close(d, c);
    }
  });

  test('handlerStatus shows the protocol in use: unknown until the first call, then multiplex or original', async () => {
    const { d, c } = await daemon({ mx: sdk(), fake: {}, orig: sdk({ protocol: 'original' }) });
    try {
      const [a] = c as [RawClient];
      assert.deepEqual(protocolOf(d, 'mx'), { protocol: 'unknown', connections: 0 });
      assert.deepEqual(protocolOf(d, 'fake'), { protocol: 'unknown', connections: 0 });
      assert.deepEqual(protocolOf(d, 'orig'), { protocol: 'original', connections: 0 }, 'configured: nothing to learn');
      await roundTrip(a, 'u0', 'mx', 'm1');
      await roundTrip(a, 'u0', 'fake', 'f1');
      await roundTrip(a, 'u0', 'orig', 'o1');
      assert.deepEqual(protocolOf(d, 'mx'), { protocol: 'multiplex', connections: 1 });
      assert.deepEqual(protocolOf(d, 'fake'), { protocol: 'original', connections: 0 });
      assert.deepEqual(protocolOf(d, 'orig'), { protocol: 'original', connections: 0 });
    } finally {
      await close(d, c);
    }
  });

  test('handlers.typeMap.T.connections 3: calls in flight together are spread over 3 connections, no more', async () => {
    const typeMap = { mx: { handlerBinary: process.execPath, handlerArgs: [SDK_HANDLER], unixDomainSocketPath: 'h-mx.sock', connections: 3 } };
    const d = await startTestDaemon({
      users: Object.fromEntries(NAMES.map((n) => [n, `${n}-pw`])),
      extra: { handlers: { availableTypes: ['mx'], typeMap } },
    });
    const c: RawClient[] = [];
    try {
      for (const n of NAMES) c.push((await loggedIn({ port: d.port }, n, `${n}-pw`)).client);
      await roundTrip(c[0]!, 'u0', 'mx', 'warm');
      // One call after another while the earlier ones still run: each finds every open connection busy.
      for (let i = 0; i < 10; i++) {
        c[i % NAMES.length]!.send(message('mx', `s${i}`, { mode: 'delay', ms: 500, to: [] }));
        await sleep(20);
      }
      assert.deepEqual(protocolOf(d, 'mx'), { protocol: 'multiplex', connections: 3 });
      for (let i = 0; i < 10; i++) {
        const report = await next(c[i % NAMES.length]!);
        assert.deepEqual([report.header.status, report.payload.id], ['good', `s${i}`]);
      }
      const [after] = await roundTrip(c[0]!, 'u0', 'mx', 'after');
      assert.equal(after.connections, 3, 'the handler accepted exactly 3 connections');
    } finally {
      await close(d, c);
    }
  });

  test('auto: the original-style Python handler and the fake handler work, and are never sent an empty connection', async () => {
    const { d, c } = await daemon({ py: { kind: 'python' }, fake: {} });
    try {
      const [a, b] = c as [RawClient, RawClient];
      const pid = pidOf(d, 'py');
      const timings: number[] = [];
      for (let i = 0; i < 6; i++) {
        const started = performance.now();
        a.send(message('py', `p${i}`, { to: ['u0'], text: `t${i}` }));
        assert.deepEqual((await next(a)).payload.data, { from_python: true, text: `t${i}` });
        assert.equal((await next(a)).header.status, 'good');
        timings.push(performance.now() - started);
        b.send(message('fake', `f${i}`, { to: ['u1'] }));
        assert.equal((await next(b)).header.messageType, 'receivedMessage');
        assert.equal((await next(b)).header.status, 'good');
      }
      // The greeting wait (50 ms) is paid once per handler process: what it learned is kept, and
      // the later calls do not wait (their median, so that one slow round trip on a busy machine
      // does not count; every call that waited would take 50 ms or more).
      const status = d.server.handlerStatus().find((s) => s.type === 'py');
      assert.equal(status?.protocol, 'original', 'the first call learned that the handler speaks the original way');
      const later = timings.slice(1).sort((x, y) => x - y);
      assert.ok(later[Math.floor(later.length / 2)]! < 45, `later calls do not wait for a greeting: ${timings.map(Math.round).join(', ')}`);
      assert.deepEqual([status?.pid, status?.restarts], [pid, 0], 'the Python handler never crashed');
    } finally {
      await close(d, c);
    }
  });
});
