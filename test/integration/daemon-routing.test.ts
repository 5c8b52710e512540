// Handler calls and reply commands against a real daemon with real handler processes
// (docs/protocol.md §4): sendClients, sendHandler chains, handler faults, a Python handler.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { encodeJsonFrame } from '../../src/protocol/frame.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

async function next(c: RawClient, timeoutMs?: number): Promise<Frame> {
  return (await c.next(timeoutMs)) as Frame;
}

describe('daemon: routing', () => {
  let d: TestDaemon;
  const clients: RawClient[] = [];
  async function as(user: string): Promise<RawClient> {
    const { client, answer } = await loggedIn({ port: d.port }, user, `${user}-pw`);
    assert.equal((answer as Frame).header.status, 'good');
    clients.push(client);
    return client;
  }

  before(async () => {
    d = await startTestDaemon({
      handlers: {
        fake: { timeoutMs: 1500 },
        second: {},
        py: { kind: 'python' },
        env: { input: 'envelope' },
      },
      extra: { limits: { maxHandlerHops: 4 } },
    });
  });
  // Each test starts with nobody online.
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (let i = 0; i < 200 && d.server.registry.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
  });
  after(() => d.close());

  test('sendClients to one user: the recipient gets the delivery, the sender a good report', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    alice.send(message('fake', 'a1', { to: ['bob'], text: 'hi' }));
    assert.deepEqual(await next(bob), {
      header: { messageType: 'receivedMessage' },
      payload: { data: { to: ['bob'], text: 'hi' }, type: 'fake' },
    });
    assert.deepEqual(await next(alice), { header: { status: 'good', messageType: 'statusReport' }, payload: { id: 'a1' } });
  });

  test('sendClients to several users, and to every connection of a user connected twice', async () => {
    const [alice, bob1, bob2, carol] = [await as('alice'), await as('bob'), await as('bob'), await as('carol')];
    alice.send(message('fake', 'a2', { to: ['bob', 'carol', 'bob'], text: 'all' }));
    for (const c of [bob1, bob2, carol]) assert.equal((await next(c)).payload.type, 'fake');
    assert.equal((await next(alice)).header.status, 'good');
    // A name listed twice is delivered once per connection, not twice.
    alice.send(message('dummy', 'probe', null));
    await next(alice);
    assert.equal(bob1.queued + bob2.queued, 0);
  });

  test('offline and unknown recipients: the others still get it, the sender learns who was missed', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    // Names without an account: a known user who is offline would be kept for later (offline-delivery.test.ts).
    alice.send(message('fake', 'a3', { to: ['bob', 'nobody', 'nosuchuser'] }));
    assert.equal((await next(bob)).header.messageType, 'receivedMessage');
    const r = await next(alice);
    assert.equal(r.header.status, 'bad');
    assert.equal(r.header.code, 'recipients_offline');
    assert.deepEqual(r.header.undelivered, ['nobody', 'nosuchuser']);
    assert.equal(r.payload.id, 'a3');
  });

  test('an empty recipient list is good, as in the original', async () => {
    const alice = await as('alice');
    alice.send(message('fake', 'a4', { to: [] }));
    assert.equal((await next(alice)).header.status, 'good');
  });

  test('a closed connection is forgotten at once: the user counts as offline', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    bob.close();
    await bob.waitClosed();
    for (let i = 0; i < 100 && d.server.registry.isOnline('bob'); i++) await new Promise((r) => setTimeout(r, 10));
    alice.send(message('fake', 'a5', { to: ['bob'] }));
    // bob has an account: the delivery is kept for his next login (§4.3.1), which takes it.
    assert.deepEqual((await next(alice)).header.stored, ['bob']);
    assert.deepEqual((await next(await as('bob'))).payload.data, { to: ['bob'] });
  });

  test('the spec-document reply shape is carried out like the code shape', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    alice.send(message('fake', 'a6', { mode: 'spec', to: ['bob'], n: 6 }));
    assert.deepEqual((await next(bob)).payload.data, { mode: 'spec', to: ['bob'], n: 6 });
    assert.equal((await next(alice)).header.status, 'good');
  });

  test('sendHandler passes the result on; the last handler type is the delivery type', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    alice.send(message('fake', 'c1', { mode: 'forward', next: 'second', forwardData: { to: ['bob'], text: 'chained' } }));
    const delivered = await next(bob);
    assert.equal(delivered.payload.type, 'second');
    assert.deepEqual(delivered.payload.data, { to: ['bob'], text: 'chained' });
    assert.equal((await next(alice)).header.status, 'good');
  });

  test('a sendHandler chain over the hop limit ends in a bad report', async () => {
    const alice = await as('alice');
    alice.send(message('fake', 'loop', { mode: 'forward', next: 'fake' }));
    const r = await next(alice);
    assert.equal(r.header.status, 'bad');
    assert.equal(r.header.code, 'handler_chain_too_long');
  });

  test('sendHandler to a type with no handler is a bad report, not a crash', async () => {
    const alice = await as('alice');
    alice.send(message('fake', 'c2', { mode: 'forward', next: 'missing' }));
    const r = await next(alice);
    assert.equal(r.header.code, 'unknown_type');
    assert.match(String(r.header.reason), /missing/);
  });

  for (const [mode, code] of [
    ['status1', 'handler_error'],
    ['garbage', 'handler_bad_reply'],
    ['close', 'handler_bad_reply'],
    ['oversize', 'handler_bad_reply'],
    ['hang', 'handler_timeout'],
  ] as const) {
    test(`a handler that answers "${mode}" gets the sender a bad report (${code}); the connection stays`, async () => {
      const alice = await as('alice');
      alice.send(message('fake', mode, { mode }));
      const r = await next(alice);
      assert.equal(r.header.status, 'bad');
      assert.equal(r.header.code, code);
      assert.equal(r.payload.id, mode);
      alice.send(message('fake', 'after', { to: [] }));
      assert.equal((await next(alice)).header.status, 'good');
    });
  }

  test('a handler configured with "input": "envelope" learns who sent the message', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    alice.send(message('env', 'e1', { to: ['bob'], text: 'who am I' }));
    assert.deepEqual((await next(bob)).payload.data, {
      sender: 'alice',
      origin: d.server.federation.nodeId, // docs/protocol.md §4.4: this server, for its own users
      type: 'env',
      id: 'e1',
      data: { to: ['bob'], text: 'who am I' },
    });
    assert.equal((await next(alice)).header.status, 'good');
  });

  test('sendServers to a server that is not a configured peer is a bad report (unknown_peer)', async () => {
    const alice = await as('alice');
    alice.send(message('fake', 'fed', { mode: 'servers', servers: ['127.0.0.1:1'] }));
    const r = await next(alice);
    assert.equal(r.header.status, 'bad');
    assert.equal(r.header.code, 'unknown_peer');
    assert.match(String(r.header.reason), /127\.0\.0\.1:1/);
  });

  test('a handler written in Python (standard library, the original test style) works unchanged', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    alice.send(message('py', 'p1', { to: 'bob', text: 'olá' }));
    assert.deepEqual(await next(bob), {
      header: { messageType: 'receivedMessage' },
      payload: { data: { from_python: true, text: 'olá' }, type: 'py' },
    });
    assert.equal((await next(alice)).header.status, 'good');
    alice.send(message('py', 'p2', { to: 'bob', status: '1' }));
    assert.equal((await next(alice)).header.code, 'handler_error');
  });

  test('data is passed on as its own text: a number too big for a double reaches the handler and the recipient digit for digit', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    const big = '123456789012345678901234567890';
    // Python's json keeps big integers exactly; serialising them again in the daemon would round them (1.2345678901234568e+29).
    alice.write(encodeJsonFrame(`{"header":{},"payload":{"type":"py","id":"big","data":{"to":"bob","text":${big}}}}`));
    const delivered = await bob.nextText();
    assert.ok(delivered?.includes(`"text": ${big}`), `delivered as sent: ${delivered}`);
    assert.equal((await next(alice)).header.status, 'good');
  });

  test('a handler that crashes mid-message: bad report, restarted by the daemon, then works again', async () => {
    const alice = await as('alice');
    const before = d.server.handlerStatus().find((h) => h.type === 'second')!;
    alice.send(message('second', 'crash', { mode: 'crash' }));
    const r = await next(alice);
    assert.equal(r.header.status, 'bad');
    assert.equal(r.header.code, 'handler_bad_reply');
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      alice.send(message('second', `retry${i}`, { to: [] }));
      ok = (await next(alice)).header.status === 'good';
      if (!ok) await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(ok, 'the handler came back');
    // The handler may answer a moment before the supervisor's readiness check sees it.
    const statusOf = () => d.server.handlerStatus().find((h) => h.type === 'second')!;
    for (let i = 0; i < 200 && statusOf().state !== 'ready'; i++) await new Promise((res) => setTimeout(res, 25));
    const status = statusOf();
    assert.equal(status.state, 'ready');
    assert.equal(status.restarts, before.restarts + 1);
  });
});
