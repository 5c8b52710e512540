// Pipelining per connection (docs/protocol.md §3.1, limits.pipelineDepth): the handler calls of one
// connection's messages overlap, but the sender's status reports and the deliveries its messages
// produce come in the order the messages were sent. A session over an in-memory duplex pair, with a
// scripted handler caller that answers after `data.ms` milliseconds.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { duplexPair, type Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import type { AccountStore } from '../../src/server/accounts/account-store.ts';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { silentLogger } from '../../src/server/log.ts';
import { promisedCaller, Router, type HandlerCaller, type PromisedHandlerCaller } from '../../src/server/routing/router.ts';
import { SessionRegistry } from '../../src/server/session/registry.ts';
import { Session } from '../../src/server/session/session.ts';
import { tempDir } from '../helpers/daemon.ts';
import { login, message } from '../helpers/raw-client.ts';
import type { PeerInfo } from '../../src/server/transport/listener.ts';

/** An in-memory duplex pair's peer, as a listener would describe it. */
const PAIR_PEER: PeerInfo = { transport: 'pair', remoteAddress: null, remotePort: null, remote: 'pair', secure: false };
let sessionCount = 0;

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

class Peer {
  readonly frames: Frame[] = [];
  readonly #stream: Duplex;
  constructor(stream: Duplex) {
    this.#stream = stream;
    const decoder = new FrameDecoder({ frame: (b) => this.frames.push(parseFrameJson(b) as Frame), error: () => undefined }, 1 << 24);
    stream.on('data', (c: Buffer) => decoder.push(c));
  }
  send(v: unknown): void {
    this.#stream.write(encodeFrame(v));
  }
  /** Several frames in one write, as a pipelining client sends them. */
  sendAll(values: unknown[]): void {
    this.#stream.write(Buffer.concat(values.map((v) => encodeFrame(v))));
  }
  async waitFor(n: number, timeoutMs = 5000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(this.frames.length >= n, `expected ${n} frames, got ${this.frames.length}`);
    return this.frames;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `{ms, n, fail?}` in; answers after `ms` with sendClients to bob (status "1" when `fail`). */
function delayed(counter: { now: number; max: number; calls: number }): PromisedHandlerCaller {
  return async (_h, data) => {
    const d = data.value as { ms: number; n: number; fail?: boolean };
    counter.calls++;
    counter.now++;
    counter.max = Math.max(counter.max, counter.now);
    await sleep(d.ms);
    counter.now--;
    if (d.fail === true) return { header: { status: '1', error: 'refused', command: { type: 'sendClients', data: ['bob'] } }, data: d };
    return { header: { status: '0', command: { type: 'sendClients', data: ['bob'] } }, data: d };
  };
}

describe('session pipelining (component)', () => {
  let dir: string;
  let accounts: AccountStore;

  before(async () => {
    dir = tempDir();
    accounts = await openSqliteAccountStore(path.join(dir, 'a.db'));
    await accounts.add('alice', 'pw-a');
    await accounts.add('bob', 'pw-b');
  });
  after(async () => {
    await accounts.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function setup(callHandler: HandlerCaller, limits: Record<string, number> = {}): Promise<{ alice: Peer; bob: Peer }> {
    const { config } = parseConfig(
      {
        network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
        handlers: { availableTypes: ['t'], typeMap: { t: { unixDomainSocketPath: 't.sock' } } },
        limits: { loginTimeoutMs: 2000, ...limits },
      },
      { baseDir: dir },
    );
    const registry = new SessionRegistry<Session>();
    const router = new Router({ handlers: config.handlers, limits: config.limits, registry, logger: silentLogger(), callHandler });
    const connect = (): Peer => {
      const [client, server] = duplexPair();
      new Session(server, PAIR_PEER, { config, accounts, registry, router, logger: silentLogger(), onClosed: () => undefined }, ++sessionCount);
      return new Peer(client);
    };
    const [alice, bob] = [connect(), connect()];
    alice.send(login('alice', 'pw-a'));
    bob.send(login('bob', 'pw-b'));
    await Promise.all([alice.waitFor(1), bob.waitFor(1)]);
    return { alice, bob };
  }

  test('decreasing handler delays: calls overlap, reports and deliveries still come in send order', async () => {
    const counter = { now: 0, max: 0, calls: 0 };
    const { alice, bob } = await setup(promisedCaller(delayed(counter)));
    const n = 8;
    alice.sendAll(Array.from({ length: n }, (_, i) => message('t', `m${i}`, { ms: (n - i) * 15, n: i })));
    const reports = (await alice.waitFor(1 + n)).slice(1);
    assert.deepEqual(reports.map((f) => f.payload.id), Array.from({ length: n }, (_, i) => `m${i}`));
    assert.ok(reports.every((f) => f.header.status === 'good'));
    const deliveries = (await bob.waitFor(1 + n)).slice(1);
    assert.deepEqual(deliveries.map((f) => (f.payload.data as { n: number }).n), Array.from({ length: n }, (_, i) => i));
    assert.ok(counter.max > 1, `the handler calls overlapped (at most ${counter.max} at once)`);
  });

  test('at most limits.pipelineDepth handler calls of one connection run at once', async () => {
    const counter = { now: 0, max: 0, calls: 0 };
    const { alice } = await setup(promisedCaller(delayed(counter)), { pipelineDepth: 3 });
    alice.sendAll(Array.from({ length: 12 }, (_, i) => message('t', `d${i}`, { ms: 10, n: i })));
    const reports = (await alice.waitFor(13)).slice(1);
    assert.deepEqual(reports.map((f) => f.payload.id), Array.from({ length: 12 }, (_, i) => `d${i}`));
    assert.equal(counter.calls, 12);
    assert.equal(counter.max, 3);
  });

  test('a failing message in the middle gets its bad report in order; the others go on', async () => {
    const counter = { now: 0, max: 0, calls: 0 };
    const { alice, bob } = await setup(promisedCaller(delayed(counter)));
    const msgs = [0, 1, 2, 3, 4].map((i) => message('t', `f${i}`, { ms: (5 - i) * 10, n: i, ...(i === 2 ? { fail: true } : {}) }));
    alice.sendAll([...msgs.slice(0, 3), message('dummy', 'dm', null), ...msgs.slice(3)]);
    const answers = (await alice.waitFor(7)).slice(1);
    assert.deepEqual(answers.map((f) => f.payload.id), ['f0', 'f1', 'f2', 'dm', 'f3', 'f4']);
    assert.deepEqual(answers.map((f) => f.header.status ?? f.header.code), ['good', 'good', 'bad', '0', 'good', 'good']);
    assert.equal(answers[2]!.header.code, 'handler_error');
    const deliveries = (await bob.waitFor(5)).slice(1);
    assert.deepEqual(deliveries.map((f) => (f.payload.data as { n: number }).n), [0, 1, 3, 4]);
  });

  test('a handler caller that answers within the call, or later: each message answered once, in send order', async () => {
    // The message path takes a call's end as a callback (handler-chain.ts): it may come before
    // the call returns. Even-numbered messages are answered so, odd ones after a few ms.
    const answerAt: HandlerCaller = (_h, data, _o, receiver) => {
      const d = data.value as { n: number };
      const reply = { header: { status: '0', command: { type: 'sendClients', data: ['bob'] } }, data: d };
      if (d.n % 2 === 0) receiver.reply(reply);
      else setTimeout(() => receiver.reply(reply), 12 - d.n);
    };
    const { alice, bob } = await setup(answerAt);
    const n = 10;
    alice.sendAll(Array.from({ length: n }, (_, i) => message('t', `s${i}`, { n: i })));
    const reports = (await alice.waitFor(1 + n)).slice(1);
    const deliveries = (await bob.waitFor(1 + n)).slice(1);
    await sleep(50); // nothing more comes
    assert.deepEqual(reports.map((f) => [f.payload.id, f.header.status]), Array.from({ length: n }, (_, i) => [`s${i}`, 'good']));
    assert.deepEqual(deliveries.map((f) => (f.payload.data as { n: number }).n), Array.from({ length: n }, (_, i) => i));
  });

  test('builtin close in the middle: earlier messages are answered, later ones carry nothing out', async () => {
    const counter = { now: 0, max: 0, calls: 0 };
    const { alice, bob } = await setup(promisedCaller(delayed(counter)));
    alice.sendAll([
      message('t', 'c0', { ms: 30, n: 0 }),
      message('builtin', 'close', { command: { type: 'close' } }),
      message('t', 'c1', { ms: 1, n: 1 }),
    ]);
    const answers = await alice.waitFor(2);
    await sleep(80);
    assert.deepEqual(answers.slice(1).map((f) => f.payload.id), ['c0']);
    assert.deepEqual(bob.frames.slice(1).map((f) => (f.payload.data as { n: number }).n), [0]);
  });
});
