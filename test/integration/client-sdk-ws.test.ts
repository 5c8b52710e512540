// The client SDK over WebSocket (ws:// addresses, src/sdk/web-socket-transport.ts) in Node 24, with
// its global WebSocket, against a real daemon with a ws listener: the same API as over TCP.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClientError, connect, LoginError, parseServerAddress, type BesterClient, type Delivery } from '../../src/sdk/client.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';

function within<T>(promise: Promise<T>, ms = 5000, what = 'the operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

describe('client SDK over WebSocket', () => {
  let d: TestDaemon;
  let url: string;
  const clients: BesterClient[] = [];
  async function as(user: string, server = url, extra: { maxBufferedDeliveries?: number } = {}): Promise<BesterClient> {
    const client = await within(connect({ server, username: user, password: `${user}-pw`, ...extra }));
    clients.push(client);
    return client;
  }

  before(async () => {
    d = await startTestDaemon({ handlers: { echo: {} }, listeners: ['tcp4', 'ws'] });
    const ws = d.server.listeners.find((l) => l.kind === 'ws');
    assert.ok(ws?.url !== undefined, 'the daemon has a ws listener');
    url = ws.url;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await d.close();
  });

  test('ws:// and wss:// addresses are read as WebSocket URLs; others stay socket addresses', () => {
    assert.deepEqual(parseServerAddress('ws://127.0.0.1:8080/bester'), { url: 'ws://127.0.0.1:8080/bester' });
    assert.deepEqual(parseServerAddress('wss://chat.example.org/bester'), { url: 'wss://chat.example.org/bester' });
    assert.deepEqual(parseServerAddress('127.0.0.1:2220'), { host: '127.0.0.1', port: 2220 });
    assert.throws(() => parseServerAddress('ws://'), { code: 'bad_address' });
    assert.throws(() => parseServerAddress('ws://host/path#frag'), { code: 'bad_address', message: /fragment/ });
  });

  test('logs in, sends, gets the report, and receives deliveries (events and iterator), beside a TCP client', async () => {
    const alice = await as('alice');
    assert.equal(alice.connected, true);
    assert.deepEqual(alice.address, { url });
    const bob = await as('bob', `127.0.0.1:${d.port}`);
    const events: Delivery[] = [];
    alice.on('delivery', (delivery) => events.push(delivery));
    const iterator = alice.deliveries();
    // bob (TCP) -> alice (WebSocket), and alice -> bob
    const toAlice = await bob.send('echo', { to: ['alice'], text: 'over ws, é ✓ 🙂' });
    assert.equal(toAlice.status, 'good', JSON.stringify(toAlice.raw));
    const first = await within(iterator.next());
    assert.deepEqual(first.value, { type: 'echo', data: { to: ['alice'], text: 'over ws, é ✓ 🙂' } });
    assert.deepEqual(events, [first.value]);
    const bobs = bob.deliveries();
    assert.equal((await alice.send('echo', { to: ['bob'], n: 1 })).status, 'good');
    assert.deepEqual((await within(bobs.next())).value, { type: 'echo', data: { to: ['bob'], n: 1 } });
    await iterator.return?.();
    await bobs.return?.();
  });

  test('an iterator that is not read: deliveries past maxBufferedDeliveries wait in the client, in order', async () => {
    const alice = await as('alice', url, { maxBufferedDeliveries: 4 });
    const bob = await as('bob', `127.0.0.1:${d.port}`);
    const iterator = alice.deliveries();
    const reports = await Promise.all(Array.from({ length: 30 }, (_, n) => bob.send('echo', { to: ['alice'], n })));
    assert.ok(reports.every((r) => r.status === 'good'));
    for (let n = 0; n < 30; n++) {
      const next = await within(iterator.next(), 5000, `delivery ${n}`);
      assert.deepEqual(next.value, { type: 'echo', data: { to: ['alice'], n } });
    }
    await iterator.return?.();
  });

  test('a bad report carries the reason; throwOnBad rejects with it', async () => {
    const alice = await as('alice');
    const report = await alice.send('nosuchtype', null);
    assert.equal(report.status, 'bad');
    assert.equal(typeof report.reason, 'string');
    assert.ok(report.code !== undefined);
    await assert.rejects(alice.send('nosuchtype', null, { throwOnBad: true }), { name: 'SendError', code: report.code });
  });

  test('a wrong password is a LoginError with the server reason', async () => {
    await assert.rejects(connect({ server: url, username: 'alice', password: 'wrong' }), (err: unknown) => {
      assert.ok(err instanceof LoginError);
      assert.equal(err.code, 'auth_failed');
      return true;
    });
  });

  test('a server that is not there: connect_failed; a path that is not the endpoint: connect_failed too', async () => {
    const closed = new URL(url);
    closed.port = '1';
    await assert.rejects(connect({ server: closed.href, username: 'alice', password: 'alice-pw', timeoutMs: 3000 }), { code: 'connect_failed' });
    const wrongPath = new URL('/elsewhere', url.replace(/^ws/, 'http')).href.replace(/^http/, 'ws');
    await assert.rejects(connect({ server: wrongPath, username: 'alice', password: 'alice-pw', timeoutMs: 3000 }), { code: 'connect_failed' });
  });

  test('close() ends cleanly (close event with null); the server going away ends the client with a reason', async () => {
    const alice = await as('alice');
    await within(alice.close());
    assert.equal(await alice.closed, null);
    assert.equal(alice.connected, false);
    await assert.rejects(alice.send('echo', null), { code: 'not_connected' });

    const bob = await as('bob');
    const ended = within(bob.closed, 15_000, 'the close after the server went away');
    await d.close(); // the last test of this file (close is idempotent: after() calls it again)
    const err = await ended;
    assert.ok(err instanceof ClientError, `closed with ${String(err)}`);
  });
});
