// Hardening against floods (docs/protocol.md §2.5, §4.1.1, docs/security.md), with a real daemon,
// real sockets from several loopback source addresses (127.0.0.x) and real password checks:
// a flood of wrong passwords, of logins whose connections are gone, of idle connections, and one
// user holding a handler's slots. Each test shows the effect the limit prevents (what happened
// before it) by what a real user gets, and counts work instead of timing it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import type { ServerEventMap } from '../../src/server/events.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { login, message } from '../helpers/raw-client.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** A client from a chosen loopback source address; frames queued as they come. */
class Conn {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  #wake: (() => void) | null = null;
  closed = false;

  constructor(target: { port: number } | { path: string }, from?: string) {
    this.socket = 'path' in target ? net.connect(target.path) : net.connect({ port: target.port, host: '127.0.0.1', ...(from ? { localAddress: from } : {}) });
    this.socket.on('error', () => undefined);
    const decoder = new FrameDecoder({ frame: (b) => this.#push(parseFrameJson(b) as Frame), error: () => this.socket.destroy() }, 1 << 20);
    this.socket.on('data', (c: Buffer) => decoder.push(c));
    this.socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  send(value: unknown): void {
    this.socket.write(encodeFrame(value));
  }

  async next(timeoutMs = 10_000): Promise<Frame | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0 && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.frames.shift() ?? null;
  }

  #push(frame: Frame): void {
    this.frames.push(frame);
    this.#wake?.();
  }
}

async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

function connected(c: Conn): Promise<void> {
  return new Promise((resolve) => {
    if (c.socket.readyState === 'open') resolve();
    else c.socket.once('connect', () => resolve()).once('close', () => resolve());
  });
}

describe('login floods and fair shares', () => {
  const daemons: TestDaemon[] = [];
  const conns: Conn[] = [];
  after(async () => {
    for (const c of conns) c.socket.destroy();
    await Promise.all(daemons.map((d) => d.close()));
  });
  function open(target: { port: number } | { path: string }, from?: string): Conn {
    const c = new Conn(target, from);
    conns.push(c);
    return c;
  }
  async function daemon(extra: Record<string, unknown>, handlers = {}): Promise<TestDaemon> {
    const d = await startTestDaemon({ extra, handlers });
    daemons.push(d);
    return d;
  }
  function logins(d: TestDaemon): Array<ServerEventMap['login']> {
    const heard: Array<ServerEventMap['login']> = [];
    d.server.events.on('login', (e) => heard.push(e));
    return heard;
  }

  test('wrong passwords from 16 addresses, connections kept open: a correct login from a fresh address is checked first', async () => {
    const d = await daemon({ limits: { loginTimeoutMs: 60_000 } });
    const heard = logins(d);
    const flood: Conn[] = [];
    for (let a = 0; a < 16; a++) {
      for (let i = 0; i < 20; i++) {
        const c = open({ port: d.port }, `127.0.0.${10 + a}`);
        c.send(login(`nobody${a}-${i}`, 'wrong'));
        flood.push(c);
      }
    }
    await Promise.all(flood.map(connected));
    await until(() => heard.length >= 8, 'the flood is being checked');
    const alice = open({ port: d.port }, '127.0.0.200');
    alice.send(login('alice', 'alice-pw'));
    const answer = await alice.next(30_000);
    assert.equal(answer?.header.status, 'good');
    // Before the queue of checks, all 320 wrong passwords were checked first, in arrival order.
    const checkedBefore = heard.findIndex((e) => e.user === 'alice');
    const failedBefore = heard.slice(0, checkedBefore).filter((e) => e.outcome === 'failed').length;
    assert.ok(failedBefore < 60, `alice waited for ${failedBefore} password checks of the flood`);
    // Over the caps the flood is answered at once with a clear code, not left to time out.
    const busy = heard.filter((e) => e.outcome === 'busy').length;
    assert.ok(busy >= 200, `${busy} flood logins answered server_busy`);
    const refused = await flood.at(-1)!.next();
    assert.ok(refused?.header.code === 'server_busy' || refused?.header.code === 'auth_failed', `answered ${String(refused?.header.code)}`);
  });

  test('logins over the UNIX socket whose connections closed at once: their checks are dropped, not run', async () => {
    const d = await daemon({ limits: { loginTimeoutMs: 60_000 } });
    const heard = logins(d);
    for (let i = 0; i < 300; i++) {
      const c = open({ path: d.unixPath });
      c.socket.end(encodeFrame(login(`ghost${i}`, 'wrong')));
    }
    await until(() => heard.length >= 2, 'the flood reached the daemon');
    const alice = open({ port: d.port }, '127.0.0.201');
    alice.send(login('alice', 'alice-pw'));
    assert.equal((await alice.next(30_000))?.header.status, 'good');
    const checkedBefore = heard.findIndex((e) => e.user === 'alice');
    const failedBefore = heard.slice(0, checkedBefore).filter((e) => e.outcome === 'failed').length;
    assert.ok(failedBefore < 20, `alice waited for ${failedBefore} password checks of gone clients`);
  });

  test('idle connections fill the server: a logged-in user keeps working and a fresh correct login still gets in', async () => {
    const d = await daemon({ limits: { maxConnections: 120, maxUnauthenticatedPerAddress: 20 } }, { fake: {} });
    const bob = open({ port: d.port }, '127.0.0.2');
    bob.send(login('bob', 'bob-pw'));
    assert.equal((await bob.next())?.header.status, 'good');
    const flood: Conn[] = [];
    for (let a = 0; a < 8; a++) for (let i = 0; i < 20; i++) flood.push(open({ port: d.port }, `127.0.0.${30 + a}`));
    await Promise.all(flood.map(connected));
    await until(() => flood.filter((c) => c.closed).length >= 40, 'the oldest idle connections are closed to make room');
    const evicted = flood.find((c) => c.closed && c.frames.length > 0);
    assert.equal(evicted?.frames[0]?.header.code, 'server_busy', 'an evicted connection is told why');
    const alice = open({ port: d.port }, '127.0.0.202');
    alice.send(login('alice', 'alice-pw'));
    assert.equal((await alice.next())?.header.status, 'good', 'a fresh correct login gets in');
    alice.send(message('fake', 'm1', { to: ['bob'] }));
    assert.equal((await bob.next())?.payload.type, 'fake', 'the logged-in user still receives');
    assert.equal((await alice.next())?.header.status, 'good');
  });

  test("one user's pipelined calls cannot take every slot of a handler: another user's call is served", async () => {
    const d = await daemon({}, { slow: { maxInFlight: 8 } });
    const alices: Conn[] = [];
    for (let i = 0; i < 3; i++) {
      const c = open({ port: d.port });
      c.send(login('alice', 'alice-pw'));
      assert.equal((await c.next())?.header.status, 'good');
      alices.push(c);
    }
    for (const [n, c] of alices.entries()) for (let i = 0; i < 4; i++) c.send(message('slow', `a${n}-${i}`, { mode: 'delay', ms: 600 }));
    const bob = open({ port: d.port });
    bob.send(login('bob', 'bob-pw'));
    assert.equal((await bob.next())?.header.status, 'good');
    await until(() => (d.server.handlerStatus().find((s) => s.type === 'slow')?.inFlight ?? 0) >= 2, 'alice holds slots');
    bob.send(message('slow', 'b1', { mode: 'delay', ms: 10, to: [] }));
    const report = await bob.next();
    assert.deepEqual([report?.payload.id, report?.header.status], ['b1', 'good'], `bob: ${JSON.stringify(report?.header)}`);
    // alice's calls past her share are refused with a reason that says so.
    const answers: Frame[] = [];
    for (const c of alices) for (let i = 0; i < 4; i++) answers.push((await c.next())!);
    const refused = answers.filter((a) => a.header.code === 'overloaded');
    assert.ok(refused.length > 0);
    assert.match(String(refused[0]?.header.reason), /the most one user may \(maxInFlightPerUser\)/);
  });
});
