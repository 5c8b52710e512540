// The session state machine over an in-memory duplex pair: no sockets, a scripted handler
// caller, a real SQLite account store in a temp dir (docs/protocol.md §2–§3).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { duplexPair } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { AccountStore } from '../../src/server/accounts/account-store.ts';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { silentLogger } from '../../src/server/log.ts';
import { promisedCaller, Router, type PromisedHandlerCaller } from '../../src/server/routing/router.ts';
import { SessionRegistry } from '../../src/server/session/registry.ts';
import { Session } from '../../src/server/session/session.ts';
import { tempDir } from '../helpers/daemon.ts';
import { login, message } from '../helpers/raw-client.ts';
import { PAIR_PEER, PairPeer as Peer } from '../helpers/pair-peer.ts';

let sessionCount = 0;

describe('session (component)', () => {
  let dir: string;
  let accounts: AccountStore;
  const calls: unknown[] = [];
  let script: PromisedHandlerCaller = () => Promise.resolve(null);

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

  function setup(limits: Record<string, number> = {}): { registry: SessionRegistry<Session>; connect: () => Peer } {
    const { config } = parseConfig(
      {
        network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
        handlers: { availableTypes: ['t', 'u'], typeMap: { t: { unixDomainSocketPath: 't.sock' }, u: { unixDomainSocketPath: 'u.sock' } } },
        limits: { loginTimeoutMs: 1000, ...limits },
      },
      { baseDir: dir },
    );
    const registry = new SessionRegistry<Session>();
    const router = new Router({
      handlers: config.handlers,
      limits: config.limits,
      registry,
      logger: silentLogger(),
      callHandler: promisedCaller((h, data, o) => {
        calls.push({ type: h.type, data: data.value });
        return script(h, data, o);
      }),
    });
    return {
      registry,
      connect: () => {
        const [client, server] = duplexPair();
        new Session(server, PAIR_PEER, { config, accounts, registry, router, logger: silentLogger(), onClosed: () => undefined }, ++sessionCount);
        return new Peer(client);
      },
    };
  }

  test('messages sent before the login is checked wait for it, then run in order', async () => {
    const { connect } = setup();
    calls.length = 0;
    script = (_h, data) => Promise.resolve({ header: { status: '0', command: { type: 'sendClients', data: [] } }, data });
    const peer = connect();
    peer.send(login('alice', 'pw-a'));
    for (const n of [1, 2, 3]) peer.send(message('t', `m${n}`, n));
    const frames = await peer.waitFor(4);
    assert.deepEqual(frames.map((f) => f.payload.id), ['auth_special', 'm1', 'm2', 'm3']);
    assert.deepEqual(calls, [1, 2, 3].map((n) => ({ type: 't', data: n })), 'the handler gets payload.data only, in order');
  });

  test('pipelineDepth 1, one message at a time: a slow handler call holds back the next one', async () => {
    const { connect } = setup({ pipelineDepth: 1 });
    let inFlight = 0;
    let maxInFlight = 0;
    script = async (_h, data) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return { header: { status: '0', command: { type: 'sendClients', data: [] } }, data };
    };
    const peer = connect();
    peer.send(login('alice', 'pw-a'));
    for (let i = 0; i < 5; i++) peer.send(message('t', `s${i}`, i));
    await peer.waitFor(6);
    assert.equal(maxInFlight, 1);
  });

  test('a login payload is never dispatched, and nothing reaches a handler before a login', async () => {
    const { connect } = setup();
    calls.length = 0;
    const peer = connect();
    peer.send({ header: { scope: 'client', authentication: { username: 'alice', password: 'wrong' } }, payload: { type: 't', id: 'x', data: 'secret' } });
    peer.send(message('t', 'after', 1));
    const [answer] = await peer.waitFor(1);
    assert.equal(answer!.header.status, 'bad');
    assert.equal(await peer.waitEnded(), true);
    assert.deepEqual(calls, []);
  });

  test('a delivery reaches every connection of the user through the registry', async () => {
    const { connect, registry } = setup();
    script = (_h, data) => Promise.resolve({ header: { status: '0', command: { type: 'sendClients', data: ['bob'] } }, data });
    const [alice, bob1, bob2] = [connect(), connect(), connect()];
    alice.send(login('alice', 'pw-a'));
    bob1.send(login('bob', 'pw-b'));
    bob2.send(login('bob', 'pw-b'));
    await Promise.all([alice.waitFor(1), bob1.waitFor(1), bob2.waitFor(1)]);
    assert.equal(registry.connectionsOf('bob').size, 2);
    alice.send(message('t', 'd1', { hello: 'bob' }));
    for (const bob of [bob1, bob2]) {
      const frames = await bob.waitFor(2);
      assert.deepEqual(frames[1], { header: { messageType: 'receivedMessage' }, payload: { data: { hello: 'bob' }, type: 't' } });
    }
    assert.equal((await alice.waitFor(2))[1]!.header.status, 'good');
  });

  test('an exception in the handler path is one bad report (internal_error) and the session goes on', async () => {
    const { connect } = setup();
    script = () => {
      throw new Error('boom');
    };
    const peer = connect();
    peer.send(login('alice', 'pw-a'));
    peer.send(message('t', 'e1', 1));
    peer.send(message('dummy', 'e2', null));
    const frames = await peer.waitFor(3);
    assert.equal(frames[1]!.header.status, 'bad');
    assert.equal(frames[2]!.payload.id, 'e2');
  });

  test('a reply that throws when it is read (an embedder caller\'s hostile value): internal_error for that message, the next ones go on', async () => {
    const { connect } = setup();
    // Planning the reply reads its header, which throws: nothing of it may reach the code that told the reply.
    const hostile = Object.defineProperty({}, 'header', {
      enumerable: true,
      get() {
        throw new Error('boom while reading');
      },
    });
    script = (_h, data) =>
      Promise.resolve((data.value as { n: number }).n === 1 ? hostile : { header: { status: '0', command: { type: 'sendClients', data: ['alice'] } }, data: data.value });
    const peer = connect();
    peer.send(login('alice', 'pw-a'));
    peer.send(message('t', 'h1', { n: 1 }));
    peer.send(message('t', 'h2', { n: 2 }));
    const frames = await peer.waitFor(4);
    const reports = frames.filter((f) => f.header.messageType === 'statusReport').slice(1);
    assert.deepEqual(reports.map((f) => [f.payload.id, f.header.status, f.header.code]), [['h1', 'bad', 'internal_error'], ['h2', 'good', undefined]]);
    assert.deepEqual(frames.find((f) => f.header.messageType === 'receivedMessage')?.payload.data, { n: 2 });
  });
});
