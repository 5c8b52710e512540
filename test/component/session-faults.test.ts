// Fault injection at the per-connection boundary (docs/protocol.md §3.5, §7 internal_error): a
// handler path that throws anything (non-Error values, throwing getters, proxies, values JSON
// cannot encode) costs one `internal_error` report on that connection. The session goes on,
// other sessions are served, and nothing reaches the process-level handlers.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { duplexPair } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import type { AccountStore } from '../../src/server/accounts/account-store.ts';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { createLogger } from '../../src/server/log.ts';
import { promisedCaller, Router, type PromisedHandlerCaller } from '../../src/server/routing/router.ts';
import { SessionRegistry } from '../../src/server/session/registry.ts';
import { Session } from '../../src/server/session/session.ts';
import { tempDir } from '../helpers/daemon.ts';
import { login, message } from '../helpers/raw-client.ts';
import type { PeerInfo } from '../../src/server/transport/listener.ts';

/** An in-memory duplex pair's peer, as a listener would describe it. */
const PAIR_PEER: PeerInfo = { transport: 'pair', remoteAddress: null, remotePort: null, remote: 'pair', secure: false };
let sessionCount = 0;

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

const ok = (data: unknown, to: string[] = []): unknown => ({ header: { status: '0', command: { type: 'sendClients', data: to } }, data });

/** A value every operation on which throws, itself included when thrown. */
const poison: unknown = new Proxy(
  {},
  {
    get() {
      throw new Proxy({}, { get: () => { throw 'nested'; } }); // eslint-disable-line @typescript-eslint/only-throw-error
    },
    getOwnPropertyDescriptor() {
      throw 7; // eslint-disable-line @typescript-eslint/only-throw-error
    },
    ownKeys() {
      throw Symbol('keys'); // eslint-disable-line @typescript-eslint/only-throw-error
    },
    has() {
      throw null; // eslint-disable-line @typescript-eslint/only-throw-error
    },
    getPrototypeOf() {
      throw undefined; // eslint-disable-line @typescript-eslint/only-throw-error
    },
  },
);

/** What each message data `fault` makes the handler caller do. */
const FAULTS: Record<string, PromisedHandlerCaller> = {
  'throws a number synchronously': () => {
    throw 42; // eslint-disable-line @typescript-eslint/only-throw-error
  },
  'throws an object without prototype': () => {
    throw Object.create(null) as object; // eslint-disable-line @typescript-eslint/only-throw-error -- String() of it throws too
  },
  'throws the poison proxy': () => {
    throw poison;
  },
  'rejects with undefined': () => Promise.reject(undefined), // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors
  'reply header getter throws a string': () =>
    Promise.resolve(
      Object.defineProperty({}, 'header', {
        enumerable: true,
        get() {
          throw 'getter'; // eslint-disable-line @typescript-eslint/only-throw-error
        },
      }),
    ),
  'reply is the poison proxy': () => Promise.resolve(poison),
  'reply data is a BigInt': () => Promise.resolve(ok(10n, ['alice'])),
  'reply data is circular': () => {
    const data: Record<string, unknown> = {};
    data.self = data;
    return Promise.resolve(ok(data, ['alice']));
  },
  'reply data has a throwing toJSON': () =>
    Promise.resolve(
      ok(
        {
          toJSON() {
            throw poison;
          },
        },
        ['alice'],
      ),
    ),
};

class Peer {
  readonly frames: Frame[] = [];
  ended = false;
  readonly #write: (b: Buffer) => void;
  constructor(stream: import('node:stream').Duplex) {
    this.#write = (b) => stream.write(b);
    const decoder = new FrameDecoder({ frame: (b) => this.frames.push(parseFrameJson(b) as Frame), error: () => undefined }, 1 << 24);
    stream.on('data', (c: Buffer) => decoder.push(c));
    stream.on('close', () => (this.ended = true));
    stream.on('end', () => (this.ended = true));
  }
  send(v: unknown): void {
    this.#write(encodeFrame(v));
  }
  async waitFor(n: number, timeoutMs = 3000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(this.frames.length >= n, `expected ${n} frames, got ${this.frames.length}`);
    return this.frames;
  }
}

describe('session: faults in the handler path stay inside the connection', () => {
  let dir: string;
  let accounts: AccountStore;
  const escaped: unknown[] = [];
  const onUncaught = (err: unknown): void => void escaped.push(['uncaughtException', err]);
  const onUnhandled = (reason: unknown): void => void escaped.push(['unhandledRejection', reason]);

  before(async () => {
    dir = tempDir();
    accounts = await openSqliteAccountStore(path.join(dir, 'a.db'));
    await accounts.add('alice', 'pw-a');
    await accounts.add('bob', 'pw-b');
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUnhandled);
  });
  after(async () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUnhandled);
    await accounts.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every kind of throw is one internal_error report; the session and its neighbours go on', async () => {
    const { config } = parseConfig(
      {
        network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
        handlers: { availableTypes: ['bad', 'good'], typeMap: { bad: { unixDomainSocketPath: 'b.sock' }, good: { unixDomainSocketPath: 'g.sock' } } },
      },
      { baseDir: dir },
    );
    const logLines: string[] = [];
    // A real logger at trace level, so the error paths also serialise what was thrown.
    const logger = createLogger({ level: 'trace' }, { write: (line: string) => void logLines.push(line) });
    const registry = new SessionRegistry<Session>();
    const router = new Router({
      handlers: config.handlers,
      limits: config.limits,
      registry,
      logger,
      callHandler: promisedCaller((handler, data, options) => {
        if (handler.type === 'good') return Promise.resolve(ok(data.value));
        const fault = FAULTS[String((data.value as { fault: string }).fault)];
        assert.ok(fault);
        return fault(handler, data, options);
      }),
    });
    const connect = (): Peer => {
      const [client, server] = duplexPair();
      new Session(server, PAIR_PEER, { config, accounts, registry, router, logger, onClosed: () => undefined }, ++sessionCount);
      return new Peer(client);
    };
    const alice = connect();
    const bob = connect();
    alice.send(login('alice', 'pw-a'));
    bob.send(login('bob', 'pw-b'));
    await Promise.all([alice.waitFor(1), bob.waitFor(1)]);

    const names = Object.keys(FAULTS);
    for (const [i, fault] of names.entries()) {
      alice.send(message('bad', `f${i}`, { fault }));
      bob.send(message('good', `g${i}`, i));
    }
    const aliceFrames = await alice.waitFor(1 + names.length);
    await bob.waitFor(1 + names.length);
    // A router whose dispatch itself throws synchronously, with a symbol.
    const dispatch = router.dispatch.bind(router);
    router.dispatch = () => {
      throw Symbol('dispatch'); // eslint-disable-line @typescript-eslint/only-throw-error
    };
    alice.send(message('bad', 'sync', { fault: 'none' }));
    await alice.waitFor(2 + names.length);
    router.dispatch = dispatch;
    alice.send(message('good', 'after', 1));
    bob.send(message('good', 'after', 2));
    await Promise.all([alice.waitFor(3 + names.length), bob.waitFor(2 + names.length)]);

    const reports = aliceFrames.slice(1).filter((f) => f.header.messageType === 'statusReport');
    assert.deepEqual(
      reports.map((f) => [f.payload.id, f.header.status, f.header.code]),
      [...names.map((_, i) => [`f${i}`, 'bad', 'internal_error']), ['sync', 'bad', 'internal_error'], ['after', 'good', undefined]],
    );
    assert.ok(
      bob.frames.slice(1).every((f) => f.header.status === 'good'),
      'the neighbouring session was served all along',
    );
    assert.equal(alice.ended || bob.ended, false, 'both connections stay open');
    assert.equal(registry.connectionCount, 2);
    await new Promise((r) => setTimeout(r, 50)); // let any unhandled rejection surface
    assert.deepEqual(escaped, [], 'nothing reached the process-level handlers');
    assert.ok(logLines.some((l) => l.includes('message handling failed') || l.includes('handler call failed')));
  });
});
