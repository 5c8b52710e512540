// Connection caps, failed-login throttling and counted close reasons, against a real daemon
// (docs/protocol.md §2.5, §9.4.3). Small limits keep it fast; every wait is bounded.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { login, loggedIn, message, RawClient, type Target } from '../helpers/raw-client.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

const open: RawClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

async function attempt(target: Target, user: string, password: string): Promise<Frame> {
  const { client, answer } = await loggedIn(target, user, password);
  open.push(client);
  assert.ok(answer, `an answer to the login of ${JSON.stringify(user)}`);
  return answer as Frame;
}

/** A login that must be refused with `code`, then closed. */
async function refused(target: Target, user: string, password: string, code: string): Promise<Frame> {
  const { client, answer } = await loggedIn(target, user, password);
  open.push(client);
  const frame = answer as Frame;
  assert.equal(frame.header.status, 'bad', JSON.stringify(frame));
  assert.equal(frame.header.code, code, JSON.stringify(frame));
  assert.equal(frame.payload.id, 'auth_special');
  assert.equal(await client.waitClosed(), true, 'closed after the answer');
  return frame;
}

async function online(target: Target, user: string): Promise<RawClient> {
  const { client, answer } = await loggedIn(target, user, `${user}-pw`);
  open.push(client);
  assert.equal((answer as Frame).header.status, 'good', JSON.stringify(answer));
  return client;
}

async function stillWorks(client: RawClient, id: string): Promise<void> {
  client.send(message('dummy', id, null));
  assert.equal(((await client.next()) as Frame).payload.id, id);
}

async function closeCounts(d: TestDaemon): Promise<Record<string, number>> {
  const informer = await RawClient.connect({ path: d.server.informerPath ?? '' });
  try {
    informer.send({ command: { type: 'serverInfo' } });
    const answer = (await informer.next()) as { status: string; data: { closes: Record<string, number> } };
    assert.equal(answer.status, '0');
    return answer.data.closes;
  } finally {
    informer.close();
  }
}

/** Close counts are taken when the socket is gone: wait (bounded) until they match. */
async function expectCounts(d: TestDaemon, expected: Record<string, number>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let counts = await closeCounts(d);
  while (Date.now() < deadline && !Object.entries(expected).every(([k, n]) => counts[k] === n)) {
    await new Promise((r) => setTimeout(r, 25));
    counts = await closeCounts(d);
  }
  for (const [reason, n] of Object.entries(expected)) assert.equal(counts[reason], n, `closes.${reason} in ${JSON.stringify(counts)}`);
}

describe('failed logins throttled per username', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon({
      listeners: ['tcp4', 'unix'],
      extra: { limits: { loginFailures: { maxPerAddress: 100, maxPerUser: 3, windowMs: 60_000, blockMs: 60_000 } } },
    });
  });
  after(() => d.close());

  test('after maxPerUser failures the right password is refused with login_throttled; existing sessions stay', async () => {
    const tcp = { port: d.port };
    const existing = await online(tcp, 'alice');
    for (let i = 0; i < 3; i++) assert.equal((await refused(tcp, 'alice', 'wrong', 'auth_failed')).header.code, 'auth_failed');
    const answer = await refused(tcp, 'alice', 'alice-pw', 'login_throttled');
    assert.match(String(answer.header.reason), /^too many failed logins for this username; try again in (59|60) s$/);
    // From another address (the UNIX socket) too: the limit is the user's.
    await refused({ path: d.unixPath }, 'alice', 'alice-pw', 'login_throttled');
    await stillWorks(existing, 'still-here');
    assert.equal((await attempt(tcp, 'bob', 'bob-pw')).header.status, 'good', 'other users log in');
  });

  test('an unknown user is throttled the same way, so the answer does not tell who exists', async () => {
    const tcp = { port: d.port };
    const unknown: Frame[] = [];
    for (let i = 0; i < 3; i++) unknown.push(await refused(tcp, 'mallory', 'guess', 'auth_failed'));
    const throttled = await refused(tcp, 'mallory', 'guess', 'login_throttled');
    for (let i = 0; i < 3; i++) await refused(tcp, 'carol', 'guess', 'auth_failed');
    const known = await refused(tcp, 'carol', 'guess', 'login_throttled');
    const seconds = (f: Frame): Frame => ({ ...f, header: { ...f.header, reason: String(f.header.reason).replace(/\d+ s$/, 'N s') } });
    assert.deepEqual(seconds(throttled), seconds(known), 'the same answer for an unknown and a known user');
    assert.match(String(throttled.header.reason), /for this username/);
    assert.deepEqual(unknown[0], unknown[2]);
  });
});

describe('failed logins throttled per address', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon({
      listeners: ['tcp4', 'tcp6', 'unix'],
      extra: { limits: { loginFailures: { maxPerAddress: 3, maxPerUser: 100, windowMs: 60_000, blockMs: 60_000 } } },
    });
  });
  after(() => d.close());

  test('failures for any names add up per address; a success in between does not reset them; other addresses are independent', async () => {
    const v4 = { port: d.port, host: '127.0.0.1' };
    const tcp6 = d.server.listeners.find((l) => l.kind === 'tcp6');
    assert.ok(tcp6?.port);
    const v6 = { port: tcp6.port, host: '::1' };
    await refused(v4, 'nobody1', 'x', 'auth_failed');
    await refused(v4, 'alice', 'wrong', 'auth_failed');
    await online(v4, 'bob'); // a success for another user does not reset the address
    await refused(v4, '', 'x', 'auth_failed'); // even a login without a valid name counts
    const answer = await refused(v4, 'carol', 'carol-pw', 'login_throttled');
    assert.match(String(answer.header.reason), /^too many failed logins from this address; try again in \d+ s$/);
    // ::1 is another address; local UNIX connections are not limited per address.
    await online(v6, 'carol');
    for (let i = 0; i < 4; i++) await refused({ path: d.unixPath }, 'nobody2', 'x', 'auth_failed');
    await online({ path: d.unixPath }, 'carol');
  });
});

describe('connection caps', () => {
  test('limits.maxSessionsPerUser: one login too many is refused with too_many_connections', async () => {
    const d = await startTestDaemon({ extra: { limits: { maxSessionsPerUser: 2 } } });
    try {
      const tcp = { port: d.port };
      const first = await online(tcp, 'alice');
      await online({ path: d.unixPath }, 'alice');
      const answer = await refused(tcp, 'alice', 'alice-pw', 'too_many_connections');
      assert.match(String(answer.header.reason), /limits\.maxSessionsPerUser/);
      await stillWorks(first, 'first-stays');
      await online(tcp, 'bob');
      first.send(message('builtin', 'bye', { command: { type: 'close' } }));
      assert.ok(await first.waitClosed());
      await online(tcp, 'alice'); // a place is free again
      await expectCounts(d, { too_many_connections: 1, client_close: 1 });
    } finally {
      await d.close();
    }
  });

  test('limits.maxUnauthenticatedPerAddress: connections that have not logged in are capped per address', async () => {
    const d = await startTestDaemon({ extra: { limits: { maxUnauthenticatedPerAddress: 2, loginTimeoutMs: 5000 } } });
    try {
      const tcp = { port: d.port };
      const quiet = [await RawClient.connect(tcp), await RawClient.connect(tcp)];
      open.push(...quiet);
      const third = await RawClient.connect(tcp);
      open.push(third);
      const frame = (await third.next()) as Frame;
      assert.equal(frame.header.messageType, 'error');
      assert.equal(frame.header.code, 'too_many_connections');
      assert.match(String(frame.header.reason), /limits\.maxUnauthenticatedPerAddress = 2/);
      assert.ok(await third.waitClosed());
      await online({ path: d.unixPath }, 'carol'); // local connections are not counted per address
      // The quiet ones are unaffected: one logs in, which frees its place for a new connection.
      quiet[0]!.send(login('alice', 'alice-pw'));
      assert.equal(((await quiet[0]!.next()) as Frame).header.status, 'good');
      await online(tcp, 'bob');
      assert.equal(quiet[1]!.closed, false);
      await expectCounts(d, { too_many_connections: 1 });
    } finally {
      await d.close();
    }
  });

  test('limits.maxConnections: one connection too many gets an error frame and is closed; the others work', async () => {
    const d = await startTestDaemon({ extra: { limits: { maxConnections: 3 } } });
    try {
      const clients = [await online({ port: d.port }, 'alice'), await online({ path: d.unixPath }, 'bob'), await online({ port: d.port }, 'carol')];
      for (const target of [{ port: d.port }, { path: d.unixPath }]) {
        const extra = await RawClient.connect(target);
        open.push(extra);
        const frame = (await extra.next()) as Frame;
        assert.deepEqual(frame.header.code, 'too_many_connections', JSON.stringify(frame));
        assert.match(String(frame.header.reason), /limits\.maxConnections = 3/);
        assert.ok(await extra.waitClosed());
      }
      for (const [i, c] of clients.entries()) await stillWorks(c, `ok-${i}`);
      clients[0]!.close(); // a hang-up frees a place
      await expectCounts(d, { too_many_connections: 2, peer_closed: 1 });
      await online({ port: d.port }, 'alice');
    } finally {
      await d.close();
    }
  });
});

describe('close reasons are counted (serverInfo closes)', () => {
  test('each close is counted once under its reason', async () => {
    const d = await startTestDaemon({
      extra: { limits: { loginTimeoutMs: 2000, loginFailures: { maxPerAddress: 100, maxPerUser: 1, windowMs: 60_000, blockMs: 60_000 } } },
    });
    try {
      assert.deepEqual(await closeCounts(d), {});
      const tcp = { port: d.port };
      await refused(tcp, 'alice', 'wrong', 'auth_failed');
      await refused(tcp, 'alice', 'wrong', 'login_throttled');
      const idle = await RawClient.connect(tcp);
      open.push(idle);
      assert.equal(((await idle.next()) as Frame).header.code, 'login_timeout');
      const bad = await RawClient.connect(tcp);
      open.push(bad);
      bad.send({ header: {}, payload: {} });
      assert.equal(((await bad.next()) as Frame).header.code, 'unknown_scope');
      const bob = await online(tcp, 'bob');
      bob.send(message('builtin', 'c', { command: { type: 'close' } }));
      assert.ok(await bob.waitClosed());
      const carol = await online(tcp, 'carol');
      carol.close();
      await expectCounts(d, {
        auth_failed: 1,
        login_throttled: 1,
        login_timeout: 1,
        unknown_scope: 1,
        client_close: 1,
        peer_closed: 1,
      });
      assert.deepEqual(Object.keys(await closeCounts(d)).toSorted(), [
        'auth_failed',
        'client_close',
        'login_throttled',
        'login_timeout',
        'peer_closed',
        'unknown_scope',
      ]);
    } finally {
      await d.close();
    }
  });
});
