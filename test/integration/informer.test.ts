// The informer against a real daemon (docs/protocol.md §9): every command and its exact answer,
// bad requests that leave the connection usable, frames that end it, the socket file, the
// handler environment, and the informer block of the config.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { encodeJsonFrame } from '../../src/protocol/frame.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { startServer } from '../../src/server/server.ts';
import { ROOT, rawConfig, SDK_HANDLER, startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message, RawClient } from '../helpers/raw-client.ts';

interface Answer {
  status: string;
  data: unknown;
  error?: unknown;
}

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const ADMIN_INFO = { name: 'informer test', contact: ['admin@example.org'] };

function request(type: string, data?: unknown): object {
  return data === undefined ? { command: { type } } : { command: { type, data } };
}

async function ask(informer: RawClient, type: string, data?: unknown): Promise<Answer> {
  informer.send(request(type, data));
  return (await informer.next()) as Answer;
}

/** Asserts a status "1" answer with a non-empty error text; returns the text. */
function assertFailure(answer: Answer): string {
  assert.equal(answer.status, '1');
  assert.equal(answer.data, null);
  assert.equal(typeof answer.error, 'string');
  assert.notEqual(answer.error, '');
  assert.deepEqual(Object.keys(answer).toSorted(), ['data', 'error', 'status']);
  return answer.error as string;
}

describe('informer', () => {
  let d: TestDaemon;
  const clients: RawClient[] = [];
  async function as(user: string): Promise<RawClient> {
    const { client, answer } = await loggedIn({ port: d.port }, user, `${user}-pw`);
    assert.equal((answer as { header: { status: string } }).header.status, 'good');
    clients.push(client);
    return client;
  }
  async function informer(): Promise<RawClient> {
    const client = await RawClient.connect({ path: d.server.informerPath ?? '' });
    clients.push(client);
    return client;
  }

  before(async () => {
    d = await startTestDaemon({ handlers: { probe: {} }, extra: { admin: { info: ADMIN_INFO } } });
  });
  // Each test starts with nobody online.
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (let i = 0; i < 200 && d.server.registry.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
  });
  after(() => d.close());

  test('binds beside the unix listener, mode 0600, and tells started handlers where it is', async () => {
    const socket = path.join(d.dir, 'informer.sock');
    assert.equal(d.server.informerPath, socket);
    const stat = statSync(socket);
    assert.ok(stat.isSocket());
    assert.equal(stat.mode & 0o777, 0o600);
    const alice = await as('alice');
    alice.send(message('probe', 'e1', { mode: 'env', to: ['alice'] }));
    assert.deepEqual(await alice.next(), {
      header: { messageType: 'receivedMessage' },
      payload: { data: { informer: socket }, type: 'probe' },
    });
    assert.deepEqual(await alice.next(), { header: { status: 'good', messageType: 'statusReport' }, payload: { id: 'e1' } });
  });

  test('listClients: each user once, a closed connection forgotten at once', async () => {
    const info = await informer();
    assert.deepEqual(await ask(info, 'listClients'), { status: '0', data: [] });
    await as('alice');
    await as('alice');
    const bob = await as('bob');
    const listed = await ask(info, 'listClients');
    assert.equal(listed.status, '0');
    assert.deepEqual((listed.data as string[]).toSorted(), ['alice', 'bob']);
    // builtin close: the daemon forgets bob before it closes the socket (§2.4).
    bob.send(message('builtin', 'b1', { command: { type: 'close' } }));
    assert.ok(await bob.waitClosed());
    assert.deepEqual(await ask(info, 'listClients'), { status: '0', data: ['alice'] });
  });

  test('listClients forgets a client that hangs up', async () => {
    const info = await informer();
    const carol = await as('carol');
    assert.deepEqual(await ask(info, 'listClients'), { status: '0', data: ['carol'] });
    carol.close();
    let answer: Answer = { status: '', data: null };
    for (let i = 0; i < 100; i++) {
      answer = await ask(info, 'listClients');
      if ((answer.data as string[]).length === 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(answer, { status: '0', data: [] });
  });

  test('isClient: true for a connected user (trimmed), false otherwise, status "1" for a non-string', async () => {
    const info = await informer();
    await as('alice');
    assert.deepEqual(await ask(info, 'isClient', 'alice'), { status: '0', data: true });
    assert.deepEqual(await ask(info, 'isClient', '  alice\n'), { status: '0', data: true });
    assert.deepEqual(await ask(info, 'isClient', 'bob'), { status: '0', data: false });
    assert.deepEqual(await ask(info, 'isClient', 'dave'), { status: '0', data: false });
    assertFailure(await ask(info, 'isClient', 5));
    assertFailure(await ask(info, 'isClient', ['alice']));
    assertFailure(await ask(info, 'isClient'));
    assert.deepEqual(await ask(info, 'isClient', 'alice'), { status: '0', data: true });
  });

  test("serverInfo: the original's fields with their types, then ours", async () => {
    const info = await informer();
    const alice = await as('alice');
    await as('alice');
    await as('bob');
    // One call to the probe handler (original, "auto" mode): the daemon has learned what it speaks.
    alice.send(message('probe', 'p1', { to: [] }));
    assert.deepEqual(await alice.next(), { header: { status: 'good', messageType: 'statusReport' }, payload: { id: 'p1' } });
    const answer = await ask(info, 'serverInfo');
    assert.equal(answer.status, '0');
    assert.deepEqual(Object.keys(answer).toSorted(), ['data', 'status']);
    const data = answer.data as Record<string, unknown>;
    // The original's fields.
    assert.equal(data.clientCount, '3');
    assert.deepEqual(data.adminInfo, ADMIN_INFO);
    assert.deepEqual(data.listeners, {
      listener0: { address: `tcp4://127.0.0.1:${d.port}` },
      listener1: { address: `unix://${d.unixPath}` },
    });
    // Ours.
    assert.equal(data.version, VERSION);
    assert.equal(data.startedAt, d.server.startedAt.toISOString());
    assert.equal(typeof data.uptimeSeconds, 'number');
    assert.ok(Number.isInteger(data.uptimeSeconds) && (data.uptimeSeconds as number) >= 0);
    assert.equal(data.connections, 3);
    assert.equal(data.users, 2);
    const handlers = data.handlers as Array<Record<string, unknown>>;
    assert.equal(handlers.length, 1);
    const [probe] = handlers;
    assert.deepEqual(Object.keys(probe ?? {}).toSorted(), ['connections', 'inFlight', 'managed', 'pid', 'protocol', 'restarts', 'state', 'type']);
    assert.equal(probe?.inFlight, 0);
    assert.equal(probe?.protocol, 'original', 'a handler that did not greet (docs/protocol.md §4.5.1)');
    assert.equal(probe?.connections, 0);
    assert.equal(probe?.type, 'probe');
    assert.equal(probe?.state, 'ready');
    assert.equal(typeof probe?.pid, 'number');
    assert.equal(probe?.restarts, 0);
    assert.equal(probe?.managed, true);
    assert.equal(data.informer, d.server.informerPath);
    const federation = data.federation as { nodeId: string; links: object; waiting: object; counters: object };
    assert.equal(federation.nodeId, d.server.federation.nodeId);
    assert.deepEqual([federation.links, federation.waiting, federation.counters], [{}, {}, {}]);
    assert.deepEqual(data.offline, { stored: 0 }, 'messages kept for offline users (§4.3.1)');
    assert.deepEqual(Object.keys(data).toSorted(), [
      'adminInfo',
      'clientCount',
      'closes',
      'connections',
      'federation',
      'handlers',
      'informer',
      'listeners',
      'logins',
      'messages',
      'offline',
      'startedAt',
      'uptimeSeconds',
      'users',
      'version',
    ]);
  });

  test('quit: answered, then that connection closes; a request after it gets nothing', async () => {
    const info = await informer();
    info.write(Buffer.concat([encodeJsonFrame(JSON.stringify(request('quit'))), encodeJsonFrame(JSON.stringify(request('listClients')))]));
    assert.deepEqual(await info.next(), { status: '0', data: null });
    assert.ok(await info.waitClosed());
    assert.equal(info.queued, 0);
    // Other informer connections are not affected.
    assert.deepEqual(await ask(await informer(), 'listClients'), { status: '0', data: [] });
  });

  test('an unknown command and malformed requests get status "1"; the connection stays usable', async () => {
    const info = await informer();
    assert.match(assertFailure(await ask(info, 'shutdown')), /unknown command "shutdown"/);
    assert.match(assertFailure(await ask(info, '__proto__')), /unknown command/);
    assert.match(assertFailure(await ask(info, 'constructor')), /unknown command/);
    const malformed: unknown[] = [[1, 2], 'listClients', 7, null, {}, { command: 'listClients' }, { command: {} },
      { command: { type: 5 } }, { command: { type: '' } }, { type: 'listClients' }];
    for (const value of malformed) {
      info.send(value);
      assertFailure((await info.next()) as Answer);
    }
    assert.deepEqual(await ask(info, 'listClients'), { status: '0', data: [] });
  });

  test('a frame that is not JSON (or not UTF-8) gets status "1"; the connection stays usable', async () => {
    const info = await informer();
    info.write(encodeJsonFrame('not json'));
    assert.match(assertFailure((await info.next()) as Answer), /JSON/);
    const bad = Buffer.from([0xff, 0xfe, 0x7b, 0x7d]);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(bad.length, 0);
    info.write(Buffer.concat([prefix, bad]));
    assert.match(assertFailure((await info.next()) as Answer), /UTF-8/);
    assert.deepEqual(await ask(info, 'isClient', 'alice'), { status: '0', data: false });
    assert.equal(info.closed, false);
  });

  test('requests sent back to back are answered in order', async () => {
    const info = await informer();
    await as('alice');
    const frames = [request('isClient', 'alice'), request('nope'), request('listClients'), request('isClient', 'bob')];
    info.write(Buffer.concat(frames.map((f) => encodeJsonFrame(JSON.stringify(f)))));
    assert.deepEqual(await info.next(), { status: '0', data: true });
    assertFailure((await info.next()) as Answer);
    assert.deepEqual(await info.next(), { status: '0', data: ['alice'] });
    assert.deepEqual(await info.next(), { status: '0', data: false });
  });

  test('an oversize frame is answered, then the connection closes', async () => {
    const info = await informer();
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(d.server.config.limits.maxHandlerFrameBytes + 1, 0);
    info.write(prefix);
    assert.match(assertFailure((await info.next()) as Answer), /over the limit/);
    assert.ok(await info.waitClosed());
  });

  test('a zero-length frame closes the connection', async () => {
    const info = await informer();
    info.write(Buffer.alloc(4));
    assert.match(assertFailure((await info.next()) as Answer), /zero-length/);
    assert.ok(await info.waitClosed());
  });

  test('sendClients delivers to every connection of the users and reports who was not reached', async () => {
    const info = await informer();
    const [alice1, alice2, bob, carol] = [await as('alice'), await as('alice'), await as('bob'), await as('carol')];
    const answer = await ask(info, 'sendClients', { users: ['alice', ' bob', 'dave', 'alice'], type: 'sensor', data: { t: 21.5 } });
    assert.deepEqual(answer, { status: '0', data: { delivered: ['alice', 'bob'], undelivered: ['dave'] } });
    const expected = { header: { messageType: 'receivedMessage' }, payload: { data: { t: 21.5 }, type: 'sensor' } };
    for (const c of [alice1, alice2, bob]) assert.deepEqual(await c.next(), expected);
    // Once each: the name listed twice was delivered once per connection.
    await new Promise((r) => setTimeout(r, 50));
    for (const c of [alice1, alice2, bob, carol]) assert.equal(c.queued, 0);
    assert.deepEqual(await ask(info, 'sendClients', { users: [], type: 'sensor', data: 1 }), {
      status: '0',
      data: { delivered: [], undelivered: [] },
    });
  });

  test('sendClients data is checked', async () => {
    const info = await informer();
    const bad: unknown[] = [
      undefined,
      'alice',
      { users: 'alice', type: 'sensor', data: 1 },
      { users: ['alice', 3], type: 'sensor', data: 1 },
      { users: ['alice'], type: '', data: 1 },
      { users: ['alice'], type: 7, data: 1 },
      { users: ['alice'], data: 1 },
    ];
    for (const data of bad) assertFailure(await ask(info, 'sendClients', data));
    assert.deepEqual(await ask(info, 'listClients'), { status: '0', data: [] });
  });
});

describe('informer: serverInfo handlers', () => {
  test('protocol and connections: "multiplex" over its open connections for an SDK handler, "unknown" before any call', async () => {
    const d = await startTestDaemon({ handlers: { mx: { binary: process.execPath, args: [SDK_HANDLER] }, probe: {} } });
    const clients: RawClient[] = [];
    try {
      const info = await RawClient.connect({ path: d.server.informerPath ?? '' });
      clients.push(info);
      const handlers = async (): Promise<unknown[]> => {
        const answer = await ask(info, 'serverInfo');
        return ((answer.data as { handlers: Array<Record<string, unknown>> }).handlers).map((h) => [h.type, h.protocol, h.connections]);
      };
      assert.deepEqual(await handlers(), [['mx', 'unknown', 0], ['probe', 'unknown', 0]]);
      const { client } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
      clients.push(client);
      client.send(message('mx', 'm1', { to: [] }));
      assert.deepEqual(await client.next(), { header: { status: 'good', messageType: 'statusReport' }, payload: { id: 'm1' } });
      assert.deepEqual(await handlers(), [['mx', 'multiplex', 1], ['probe', 'unknown', 0]]);
    } finally {
      for (const c of clients) c.close();
      await d.close();
    }
  });
});

describe('informer: configuration and lifetime', () => {
  test('allowSendClients false refuses sendClients; the other commands still answer', async () => {
    const d = await startTestDaemon({ extra: { informer: { allowSendClients: false } } });
    try {
      const { client: alice } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
      const info = await RawClient.connect({ path: d.server.informerPath ?? '' });
      const answer = await ask(info, 'sendClients', { users: ['alice'], type: 'sensor', data: 1 });
      assert.deepEqual(answer, {
        status: '1',
        data: null,
        error: "sendClients through the informer is disabled by the server's configuration",
      });
      assert.deepEqual(await ask(info, 'isClient', 'alice'), { status: '0', data: true });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(alice.queued, 0);
      alice.close();
      info.close();
    } finally {
      await d.close();
    }
  });

  test('disabled: no socket, informerPath null, and handlers get no BESTER_INFORMER_SOCKET', async () => {
    const previous = process.env.BESTER_INFORMER_SOCKET;
    process.env.BESTER_INFORMER_SOCKET = '/somewhere/else.sock'; // never passed on when disabled
    let d: TestDaemon | undefined;
    try {
      d = await startTestDaemon({ handlers: { probe: {} }, extra: { informer: { enabled: false } } });
      assert.equal(d.server.informerPath, null);
      assert.equal(existsSync(path.join(d.dir, 'informer.sock')), false);
      const { client: alice } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
      alice.send(message('probe', 'e1', { mode: 'env', to: ['alice'] }));
      assert.deepEqual(((await alice.next()) as { payload: unknown }).payload, { data: { informer: null }, type: 'probe' });
      alice.close();
    } finally {
      if (previous === undefined) delete process.env.BESTER_INFORMER_SOCKET;
      else process.env.BESTER_INFORMER_SOCKET = previous;
      await d?.close();
    }
  });

  test('path and mode from the config; close ends informer connections and removes the socket file', async () => {
    const d = await startTestDaemon({ listeners: ['tcp4'], extra: { informer: { path: 'sub/info.sock', mode: '0660' } } });
    const socket = path.join(d.dir, 'sub/info.sock');
    try {
      assert.equal(d.server.informerPath, socket);
      assert.equal(statSync(socket).mode & 0o777, 0o660);
      const info = await RawClient.connect({ path: socket });
      assert.deepEqual(await ask(info, 'listClients'), { status: '0', data: [] });
      await d.server.close();
      assert.ok(await info.waitClosed(1000));
      assert.equal(existsSync(socket), false);
      await d.server.close(); // idempotent
    } finally {
      await d.close();
    }
  });

  test('a live informer socket is never taken over by a second daemon', async () => {
    const first = await startTestDaemon();
    const dir = tempDir();
    try {
      const raw = rawConfig(dir, { listeners: ['tcp4'], extra: { informer: { path: first.server.informerPath } } });
      await assert.rejects(startServer(parseConfig(raw, { baseDir: dir }).config), /another process is accepting/);
      // The first daemon's informer still answers.
      const info = await RawClient.connect({ path: first.server.informerPath ?? '' });
      assert.deepEqual(await ask(info, 'listClients'), { status: '0', data: [] });
      info.close();
    } finally {
      await first.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
