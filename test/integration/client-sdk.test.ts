// The client SDK against a real daemon (src/sdk/client.ts, docs/sdk.md): login, sends and their
// reports, deliveries as events and iterators, closes from either side, and reconnects.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { startServer, type BesterServer } from '../../src/server/server.ts';
import { ClientError, connect, LoginError, SendError, type BesterClient, type ConnectOptions, type Delivery } from '../../src/sdk/client.ts';
import { rawConfig, startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.ts';

/** Resolves with the first value, or rejects after ms. */
function within<T>(promise: Promise<T>, ms = 5000, what = 'the operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('client SDK', () => {
  let d: TestDaemon;
  const clients: BesterClient[] = [];
  async function as(user: string, extra: Partial<ConnectOptions> = {}): Promise<BesterClient> {
    const client = await within(connect({ server: `127.0.0.1:${d.port}`, username: user, password: `${user}-pw`, ...extra }));
    clients.push(client);
    return client;
  }

  before(async () => {
    d = await startTestDaemon({ handlers: { echo: {}, slow: { timeoutMs: 20_000 } } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await d.close();
  });

  test('connects and logs in over TCP and UNIX; close() is idempotent and says so once', async () => {
    for (const server of [`127.0.0.1:${d.port}`, `unix:${d.unixPath}`, { path: d.unixPath }, { host: '127.0.0.1', port: d.port }]) {
      const client = await within(connect({ server, username: 'alice', password: 'alice-pw' }));
      assert.equal(client.connected, true);
      const closes: Array<Error | null> = [];
      client.on('close', (err) => closes.push(err));
      await within(Promise.all([client.close(), client.close()]));
      await within(client.close());
      assert.equal(client.connected, false);
      assert.deepEqual(closes, [null]);
      assert.equal(await client.closed, null);
      await assert.rejects(client.send('echo', {}), { code: 'not_connected' });
    }
  });

  test('a refused login rejects with LoginError (auth_failed and the reason)', async () => {
    for (const [username, password] of [['alice', 'wrong'], ['mallory', 'x']] as const) {
      const err = await within(connect({ server: `127.0.0.1:${d.port}`, username, password })).then(
        () => assert.fail('login accepted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof LoginError);
      assert.ok(err instanceof ClientError);
      assert.equal(err.code, 'auth_failed');
      assert.match(err.reason, /authentication failed/);
      assert.match(err.message, /^login refused: authentication failed/);
    }
  });

  test('connection errors say where and why', async () => {
    const port = await freePort();
    await assert.rejects(within(connect({ server: `127.0.0.1:${port}`, username: 'a', password: 'b' })), {
      name: 'ClientError',
      code: 'connect_failed',
      message: `cannot connect to 127.0.0.1:${port}: connection refused`,
    });
    const missing = path.join(d.dir, 'nothing.sock');
    await assert.rejects(within(connect({ server: `unix:${missing}`, username: 'a', password: 'b' })), {
      code: 'connect_failed',
      message: `cannot connect to unix:${missing}: no such socket file`,
    });
    await assert.rejects(within(connect({ server: 'localhost', username: 'a', password: 'b' })), { code: 'bad_address' });
  });

  test('send resolves with the status report: good, bad (with code, reason, undelivered), dummy', async () => {
    const alice = await as('alice');
    const good = await within(alice.send('echo', { to: [] }));
    assert.equal(good.status, 'good');
    assert.match(good.id, /^[0-9a-f]{8}-\d+$/);
    assert.deepEqual(good.raw, { header: { status: 'good', messageType: 'statusReport' }, payload: { id: good.id } });

    // "nobody" has no account (an offline user with one would get it kept for later).
    const offline = await within(alice.send('echo', { to: ['nobody'] }, { id: 'm-offline' }));
    assert.equal(offline.id, 'm-offline');
    assert.equal(offline.status, 'bad');
    assert.equal(offline.code, 'recipients_offline');
    assert.deepEqual(offline.undelivered, ['nobody']);
    assert.equal(typeof offline.reason, 'string');

    const unknown = await within(alice.send('nope', null));
    assert.equal(unknown.status, 'bad');
    assert.equal(unknown.code, 'unknown_type');

    const dummy = await within(alice.send('dummy', null, { id: 'd1' }));
    assert.deepEqual(dummy, {
      id: 'd1',
      status: 'good',
      raw: { header: { status: '0' }, payload: { data: null, type: 'dummy', id: 'd1' } },
    });
  });

  test('throwOnBad rejects a bad report with a SendError', async () => {
    const alice = await as('alice');
    const err = await within(alice.send('echo', { to: ['nobody'] }, { throwOnBad: true, id: 'x1' })).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SendError);
    assert.equal(err.code, 'recipients_offline');
    assert.equal(err.id, 'x1');
    assert.deepEqual(err.undelivered, ['nobody']);
    const good = await within(alice.send('echo', { to: [] }, { throwOnBad: true }));
    assert.equal(good.status, 'good');
  });

  test('a send without a report in time rejects; its late report is dropped; the client goes on', async () => {
    const alice = await as('alice');
    await assert.rejects(alice.send('slow', { mode: 'delay', ms: 400, to: [] }, { id: 'late', timeoutMs: 50 }), {
      code: 'timeout',
      message: 'no status report for message "late" within 50 ms',
    });
    // Messages are handled in order: this report comes after the late one, which must not confuse it.
    const next = await within(alice.send('echo', { to: [] }, { id: 'after' }));
    assert.equal(next.id, 'after');
    assert.equal(next.status, 'good');
  });

  test('an id still waiting for its answer is refused; data that is not JSON is refused', async () => {
    const alice = await as('alice');
    const first = alice.send('slow', { mode: 'delay', ms: 100, to: [] }, { id: 'same' });
    await assert.rejects(alice.send('echo', {}, { id: 'same' }), { code: 'duplicate_id' });
    assert.equal((await within(first)).status, 'good');
    await assert.rejects(alice.send('echo', 10n), TypeError);
    await assert.rejects(alice.send('', {}), TypeError);
    assert.equal((await within(alice.send('dummy', undefined))).status, 'good');
  });

  test('deliveries arrive as events and through the iterator, to every connection of the user', async () => {
    const alice = await as('alice');
    const bob1 = await as('bob');
    const bob2 = await as('bob');
    const events: Delivery[] = [];
    bob1.on('delivery', (delivery) => events.push(delivery));
    const iterator = bob2.deliveries();
    const report = await within(alice.send('echo', { to: ['bob'], text: 'hi' }));
    assert.equal(report.status, 'good');
    const first = await within(iterator.next());
    assert.deepEqual(first, { done: false, value: { type: 'echo', data: { to: ['bob'], text: 'hi' } } });
    await waitFor(() => events.length === 1, 'the delivery event');
    assert.deepEqual(events, [{ type: 'echo', data: { to: ['bob'], text: 'hi' } }]);
    await iterator.return?.();
  });

  test('for await ends when the client closes; several iterators each get every delivery', async () => {
    const alice = await as('alice');
    const bob = await as('bob');
    const seen: unknown[][] = [[], []];
    const collect = async (into: unknown[]): Promise<void> => {
      for await (const d of bob.deliveries()) into.push(d.data);
    };
    const done = Promise.all(seen.map(collect));
    for (let i = 0; i < 3; i++) assert.equal((await within(alice.send('echo', { to: ['bob'], n: i }))).status, 'good');
    await waitFor(() => seen.every((s) => s.length === 3), 'three deliveries on each iterator');
    await within(bob.close());
    await within(done);
    const expected = [0, 1, 2].map((n) => ({ to: ['bob'], n }));
    assert.deepEqual(seen, [expected, expected]);
  });

  test('a slow iterator pauses the connection instead of dropping: every delivery arrives, in order', async () => {
    const alice = await as('alice');
    const bob = await as('bob', { maxBufferedDeliveries: 4 });
    const iterator = bob.deliveries();
    const total = 40;
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < total; i++) sends.push(alice.send('echo', { to: ['bob'], n: i }));
    await within(Promise.all(sends), 10_000, 'the sends');
    const seen: number[] = [];
    while (seen.length < total) {
      const next = await within(iterator.next());
      assert.equal(next.done, false);
      seen.push((next.value as Delivery & { data: { n: number } }).data.n);
      if (seen.length % 10 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(seen, [...Array(total).keys()]);
    // The connection is reading again: bob can still send and get answers.
    assert.equal((await within(bob.send('dummy', null))).status, 'good');
    await iterator.return?.();
  });

  test('a close from the server side rejects pending sends and closes the client', async () => {
    const alice = await as('alice');
    const closed = new Promise<Error | null>((resolve) => alice.once('close', resolve));
    const pending = alice.send('slow', { mode: 'hang' }, { id: 'hung' });
    await waitFor(() => d.server.registry.connectionsOf('alice').size > 0, 'the session');
    await new Promise((r) => setTimeout(r, 50));
    for (const session of d.server.registry.connectionsOf('alice')) session.close();
    const err = await within(pending).then(() => assert.fail('resolved'), (e: unknown) => e);
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'connection_closed');
    assert.match(err.message, /closed the connection/);
    assert.equal(await within(closed), err);
    assert.equal(await within(alice.closed), err);
    assert.equal(alice.connected, false);
  });

  test('builtin close through send: the send is rejected, the client ends', async () => {
    const alice = await as('alice');
    await assert.rejects(within(alice.send('builtin', { command: { type: 'close' } })), { code: 'connection_closed' });
    assert.ok((await within(alice.closed)) instanceof ClientError);
  });

  test('reconnects after the server drops the connection; sends while disconnected fail at once', async () => {
    const alice = await as('alice', { reconnect: { initialDelayMs: 200, maxDelayMs: 400 } });
    const disconnected = new Promise<Error>((resolve) => alice.once('disconnect', resolve));
    const reconnected = new Promise<number>((resolve) => alice.once('reconnect', resolve));
    for (const session of d.server.registry.connectionsOf('alice')) session.close();
    assert.equal((await within(disconnected) as ClientError).code, 'connection_closed');
    assert.equal(alice.connected, false);
    await assert.rejects(alice.send('dummy', null), { code: 'not_connected', message: /reconnecting/ });
    assert.equal(await within(reconnected), 1);
    assert.equal(alice.connected, true);
    assert.equal((await within(alice.send('echo', { to: ['alice'] }))).status, 'good');
  });
});

describe('client SDK: daemon restarts', () => {
  const users = { alice: 'alice-pw' };

  async function daemonAt(dir: string, password = 'alice-pw'): Promise<BesterServer> {
    const { config } = parseConfig(
      rawConfig(dir, { listeners: ['unix'], handlers: { slow: { timeoutMs: 20_000 } }, extra: { shutdown: { graceMs: 200 } } }),
      { baseDir: dir },
    );
    if (config.accounts.kind !== 'sqlite') throw new Error('sqlite expected');
    const store = await openSqliteAccountStore(config.accounts.path);
    if (await store.has('alice')) await store.setPassword('alice', password);
    else await store.add('alice', password);
    await store.close();
    return startServer(config);
  }

  test('a send in progress at shutdown is answered shutting_down, then the error frame; reconnects when the daemon is back', async () => {
    const dir = tempDir();
    let server = await daemonAt(dir);
    const socket = path.join(dir, 'bester.sock');
    const client = await within(connect({ server: `unix:${socket}`, username: 'alice', password: users.alice, reconnect: { initialDelayMs: 50, maxDelayMs: 100 } }));
    try {
      const errors: Error[] = [];
      client.on('error', (e) => errors.push(e));
      const disconnected = new Promise<Error>((resolve) => client.once('disconnect', resolve));
      const pending = client.send('slow', { mode: 'hang' });
      await new Promise((r) => setTimeout(r, 50));
      await within(server.close());
      const reason = await within(disconnected);
      // docs/protocol.md §3.6: the call still running when the grace period ends is cancelled and answered.
      const answered = await within(pending);
      assert.deepEqual([answered.status, answered.code], ['bad', 'shutting_down']);
      assert.equal((reason as ClientError).code, 'shutting_down');
      assert.match(reason.message, /shutting down/);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(errors.length >= 1, 'failed attempts are reported on "error"');
      const reconnected = new Promise<number>((resolve) => client.once('reconnect', resolve));
      server = await daemonAt(dir);
      assert.ok((await within(reconnected)) > 1);
      assert.equal((await within(client.send('dummy', null))).status, 'good');

      // A password refused on reconnect is not retried: the client ends with the LoginError.
      await within(server.close());
      server = await daemonAt(dir, 'changed-pw');
      const ended = await within(client.closed);
      assert.ok(ended instanceof LoginError);
      assert.equal(ended.code, 'auth_failed');
    } finally {
      await client.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('gives up after maxAttempts; close() while reconnecting stops it', async () => {
    const dir = tempDir();
    const server = await daemonAt(dir);
    const socket = path.join(dir, 'bester.sock');
    const options = { server: `unix:${socket}`, username: 'alice', password: users.alice };
    const limited = await within(connect({ ...options, reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 3 } }));
    const forever = await within(connect({ ...options, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } }));
    const reconnects: number[] = [];
    forever.on('reconnect', (n) => reconnects.push(n));
    await within(server.close());
    const gaveUp = await within(limited.closed);
    assert.ok(gaveUp instanceof ClientError);
    assert.match(gaveUp.message, /^gave up reconnecting to unix:.* after 3 attempts: cannot connect/);
    await new Promise((r) => setTimeout(r, 100));
    await within(forever.close());
    assert.equal(await forever.closed, null);
    assert.deepEqual(reconnects, []);
    await limited.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
