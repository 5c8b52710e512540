// Durable offline delivery against a real daemon and a real SQLite file (docs/protocol.md §4.3.1):
// kept for known users who are offline, delivered at their next login in order and once, the
// per-user cap, the TTL and the sender's notice, unknown users, and `offline.enabled: false`.
import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import { startTestDaemon, type TestDaemon, type TestDaemonOptions } from '../helpers/daemon.ts';
import { encodeJsonFrame } from '../../src/protocol/frame.ts';
import { loggedIn, message, RawClient } from '../helpers/raw-client.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

const deliveryOf = (data: unknown): Frame => ({ header: { messageType: 'receivedMessage' }, payload: { data, type: 'fake' } });

describe('offline delivery', () => {
  const daemons: TestDaemon[] = [];
  const clients: RawClient[] = [];
  let d: TestDaemon;

  async function start(extra: TestDaemonOptions['extra'] = {}): Promise<TestDaemon> {
    d = await startTestDaemon({ handlers: { fake: {} }, extra });
    daemons.push(d);
    return d;
  }
  async function as(user: string): Promise<RawClient> {
    const { client, answer } = await loggedIn({ port: d.port }, user, `${user}-pw`);
    assert.deepEqual((answer as Frame).payload, { id: 'auth_special' });
    assert.equal((answer as Frame).header.status, 'good');
    clients.push(client);
    return client;
  }
  async function next(c: RawClient, timeoutMs = 5000): Promise<Frame> {
    const frame = (await c.next(timeoutMs)) as Frame | null;
    assert.ok(frame !== null, 'the connection closed');
    return frame;
  }
  /** Sends and returns the status report (deliveries to the sender itself are not expected here). */
  async function send(c: RawClient, id: string, data: unknown): Promise<Frame> {
    c.send(message('fake', id, data));
    const report = await next(c);
    assert.equal(report.header.messageType, 'statusReport');
    assert.equal(report.payload.id, id);
    return report;
  }
  /** Asserts that nothing more arrives for a moment. */
  async function quiet(c: RawClient, ms = 300): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    assert.equal(c.queued, 0, 'nothing more arrives');
  }
  async function offline(user: string): Promise<void> {
    for (let i = 0; i < 250 && d.server.registry.isOnline(user); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(d.server.registry.isOnline(user), false);
  }
  async function serverInfo(): Promise<Record<string, unknown>> {
    const informer = await RawClient.connect({ path: d.server.informerPath ?? '' });
    clients.push(informer);
    informer.send({ command: { type: 'serverInfo' } });
    return ((await informer.next()) as { data: Record<string, unknown> }).data;
  }

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(async () => {
    await Promise.all(daemons.map((daemon) => daemon.close()));
  });

  test('kept for a known user who is offline, delivered at login in order, before anything else, once', async () => {
    await start();
    const [alice, carol] = [await as('alice'), await as('carol')];
    for (let n = 1; n <= 5; n++) {
      const report = await send(alice, `m${n}`, { to: ['bob', 'carol'], n });
      assert.deepEqual(report, { header: { status: 'good', messageType: 'statusReport', stored: ['bob'] }, payload: { id: `m${n}` } });
      assert.deepEqual(await next(carol), deliveryOf({ to: ['bob', 'carol'], n }), 'online recipients as before');
    }
    assert.deepEqual((await serverInfo()).offline, { stored: 5 });

    const bob = await as('bob');
    // Sent right after the login: it must come after every kept one.
    alice.send(message('fake', 'live', { to: ['bob'], n: 6 }));
    bob.send(message('dummy', 'after-login', null));
    for (let n = 1; n <= 5; n++) assert.deepEqual(await next(bob), deliveryOf({ to: ['bob', 'carol'], n }), `kept message ${n}`);
    const rest = [await next(bob), await next(bob)];
    assert.deepEqual(rest.find((f) => f.header.messageType === 'receivedMessage'), deliveryOf({ to: ['bob'], n: 6 }));
    assert.ok(rest.some((f) => f.payload.id === 'after-login'), "bob's own message is answered after the kept ones");
    assert.deepEqual(await next(alice), { header: { status: 'good', messageType: 'statusReport' }, payload: { id: 'live' } });
    await quiet(bob);

    // Once: a later login gets none of them again.
    bob.close();
    await offline('bob');
    await quiet(await as('bob'));
    assert.deepEqual((await serverInfo()).offline, { stored: 0 });
  });

  test('a kept delivery is the text the handler wrote, as a connected recipient gets it: a big number arrives digit for digit', async () => {
    d = await startTestDaemon({ handlers: { py: { kind: 'python' } } });
    daemons.push(d);
    const alice = await as('alice');
    const big = '123456789012345678901234567890';
    // Python's json keeps the integer exactly; the daemon stores the handler's own text for bob.
    alice.write(encodeJsonFrame(`{"header":{},"payload":{"type":"py","id":"big","data":{"to":"bob","text":${big}}}}`));
    const report = await next(alice);
    assert.deepEqual(report.header.stored, ['bob']);
    const bob = await as('bob');
    const kept = await bob.nextText();
    assert.ok(kept?.includes(`"text": ${big}`), `kept as written: ${kept}`);
  });

  test('a long flush (many pages, 5 MB through a 64 KiB outbound limit): what arrives meanwhile comes after, in order', async () => {
    // The flush waits for each batch to be written: it never trips the slow-consumer cut-off.
    // 5 MB kept: above the default byte quota. A 64 KiB outbound limit needs smaller frames (config/coherence.ts).
    await start({ limits: { maxOutboundBytes: 65536, maxHandlerFrameBytes: 32768, maxFrameBytes: 32768 }, offline: { maxBytesPerUser: 16_777_216 } });
    const alice = await as('alice');
    const N = 300;
    const pad = 'x'.repeat(16 * 1024);
    for (let n = 1; n <= N; n++) alice.send(message('fake', `m${n}`, { to: ['bob'], n, pad }));
    for (let n = 1; n <= N; n++) assert.deepEqual((await next(alice)).header.stored, ['bob'], `m${n}`);
    const bob = await as('bob');
    for (let n = 1; n <= 10; n++) alice.send(message('fake', `live${n}`, { to: ['bob'], live: n }));
    for (let n = 1; n <= N; n++) assert.deepEqual(await next(bob), deliveryOf({ to: ['bob'], n, pad }), `kept message ${n}`);
    for (let n = 1; n <= 10; n++) assert.deepEqual(await next(bob), deliveryOf({ to: ['bob'], live: n }), `live message ${n}`);
    for (let n = 1; n <= 10; n++) assert.equal((await next(alice)).header.status, 'good');
    await quiet(bob);
  });

  test('a user who logs in on two connections at once gets the kept messages once, on one of them', async () => {
    await start();
    const alice = await as('alice');
    for (let n = 1; n <= 20; n++) assert.deepEqual((await send(alice, `m${n}`, { to: ['bob'], n })).header.stored, ['bob']);
    const [c1, c2] = await Promise.all([RawClient.connect({ port: d.port }), RawClient.connect({ port: d.port })]);
    clients.push(c1, c2);
    c1.send({ header: { scope: 'client', authentication: { username: 'bob', password: 'bob-pw' } }, payload: { type: 'login', id: 'l1', data: null } });
    c2.send({ header: { scope: 'client', authentication: { username: 'bob', password: 'bob-pw' } }, payload: { type: 'login', id: 'l2', data: null } });
    for (const c of [c1, c2]) assert.equal((await next(c)).header.status, 'good');
    await new Promise((r) => setTimeout(r, 500));
    const got = (c: RawClient): number => c.queued;
    const [first, second] = got(c1) > 0 ? [c1, c2] : [c2, c1];
    assert.equal(got(first), 20, 'one connection has all of them');
    assert.equal(got(second), 0, 'the other has none');
    for (let n = 1; n <= 20; n++) assert.deepEqual(await next(first), deliveryOf({ to: ['bob'], n }));
    // Both connections are bob's: a new message reaches both.
    alice.send(message('fake', 'both', { to: ['bob'], n: 21 }));
    for (const c of [c1, c2]) assert.deepEqual(await next(c), deliveryOf({ to: ['bob'], n: 21 }));
  });

  test('over offline.maxPerUser: recipient_queue_full naming the user; the others still delivered or kept', async () => {
    await start({ offline: { maxPerUser: 2 } });
    const [alice, bob] = [await as('alice'), await as('bob')];
    bob.close();
    await offline('bob');
    for (const id of ['k1', 'k2']) assert.deepEqual((await send(alice, id, { to: ['bob'] })).header.stored, ['bob']);
    const carol = await as('carol');
    const full = await send(alice, 'k3', { to: ['bob', 'carol'] });
    assert.equal(full.header.status, 'bad');
    assert.equal(full.header.code, 'recipient_queue_full');
    assert.match(String(full.header.reason), /bob/);
    assert.deepEqual(full.header.undelivered, ['bob']);
    assert.equal(full.header.stored, undefined);
    assert.deepEqual(await next(carol), deliveryOf({ to: ['bob', 'carol'] }), 'carol, online, still gets it');
    carol.close();
    await offline('carol');
    const mixed = await send(alice, 'k4', { to: ['bob', 'carol'] });
    assert.equal(mixed.header.code, 'recipient_queue_full');
    assert.deepEqual(mixed.header.undelivered, ['bob']);
    assert.deepEqual(mixed.header.stored, ['carol'], 'carol, offline, gets it kept');
    const bobAgain = await as('bob');
    assert.deepEqual([await next(bobAgain), await next(bobAgain)], [deliveryOf({ to: ['bob'] }), deliveryOf({ to: ['bob'] })]);
    await quiet(bobAgain);
  });

  test('past offline.ttlMs a kept message is removed and its sender, if connected, is told', async () => {
    await start({ offline: { ttlMs: 300 } });
    const alice = await as('alice');
    assert.deepEqual((await send(alice, 'x1', { to: ['bob'] })).header.stored, ['bob']);
    const notice = await next(alice, 5000);
    assert.deepEqual(notice, {
      header: { messageType: 'receivedMessage' },
      payload: { type: 'bester.offline', data: { event: 'expired', user: 'bob', id: 'x1', type: 'fake' } },
    });
    await quiet(await as('bob'));
    assert.deepEqual((await serverInfo()).offline, { stored: 0 });
  });

  test('a user without an account is still undelivered: bad, recipients_offline', async () => {
    await start();
    const alice = await as('alice');
    const report = await send(alice, 'u1', { to: ['nobody', 'bob'] });
    assert.deepEqual(report.header, {
      status: 'bad',
      messageType: 'statusReport',
      code: 'recipients_offline',
      reason: 'not connected: nobody',
      undelivered: ['nobody'],
      stored: ['bob'],
    });
    assert.deepEqual((await send(alice, 'u2', { to: ['nobody'] })).header.undelivered, ['nobody']);
  });

  test('offline.enabled false: the earlier behaviour exactly, nothing kept', async () => {
    await start({ offline: { enabled: false } });
    const alice = await as('alice');
    const report = await send(alice, 'd1', { to: ['bob'] });
    assert.deepEqual(report, {
      header: { status: 'bad', messageType: 'statusReport', code: 'recipients_offline', reason: 'not connected: bob', undelivered: ['bob'] },
      payload: { id: 'd1' },
    });
    await quiet(await as('bob'));
    assert.deepEqual((await serverInfo()).offline, { stored: 0 });
  });
});
