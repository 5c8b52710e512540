// Logins, listeners, built-ins and bad input against a real daemon (docs/protocol.md §1–§3, §5).
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { encodeFrame } from '../../src/protocol/frame.ts';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../src/server/config/load.ts';
import { startServer } from '../../src/server/server.ts';
import { python3, startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.ts';
import { login, loggedIn, message, RawClient } from '../helpers/raw-client.ts';

const GOOD_LOGIN = { header: { status: 'good', messageType: 'statusReport' }, payload: { id: 'auth_special' } };

describe('daemon: sessions', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon({
      listeners: ['tcp4', 'tcp6', 'unix'],
      extra: { limits: { maxFrameBytes: 4096, maxLoginFrameBytes: 1024, loginTimeoutMs: 1500 } },
    });
  });
  after(() => d.close());

  test('a good login is answered with the auth_special status report', async () => {
    const { client, answer } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    assert.deepEqual(answer, GOOD_LOGIN);
    client.close();
  });

  test('the username is trimmed, as in the original', async () => {
    const { client, answer } = await loggedIn({ port: d.port }, '  alice ', 'alice-pw');
    assert.deepEqual(answer, GOOD_LOGIN);
    client.close();
  });

  test('wrong password and unknown user get the same bad report, then a close', async () => {
    const answers: unknown[] = [];
    for (const [user, pw] of [['alice', 'nope'], ['mallory', 'alice-pw'], ['alice', ''], ['', 'x']] as const) {
      const { client, answer } = await loggedIn({ port: d.port }, user, pw);
      answers.push(answer);
      assert.equal(await client.waitClosed(), true, `closed after failed login as ${JSON.stringify(user)}`);
    }
    const first = answers[0] as { header: { status: string; reason: string; code: string }; payload: { id: string } };
    assert.equal(first.header.status, 'bad');
    assert.equal(first.payload.id, 'auth_special');
    assert.equal(first.header.code, 'auth_failed');
    assert.match(first.header.reason, /authentication failed/);
    for (const a of answers) assert.deepEqual(a, first, 'no difference between unknown user and wrong password');
  });

  test('every listener type accepts logins (tcp4, tcp6, unix)', async () => {
    const tcp6 = d.server.listeners.find((l) => l.kind === 'tcp6')!;
    for (const target of [{ port: d.port }, { port: tcp6.port!, host: '::1' }, { path: d.unixPath }]) {
      const { client, answer } = await loggedIn(target, 'bob', 'bob-pw');
      assert.deepEqual(answer, GOOD_LOGIN, JSON.stringify(target));
      client.close();
    }
  });

  test('the UNIX socket file is private to the daemon user', () => {
    assert.equal(statSync(d.unixPath).mode & 0o777, 0o600);
  });

  test('dummy is answered as the original did', async () => {
    const { client } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    client.send(message('dummy', 'd1', { anything: 1 }));
    assert.deepEqual(await client.next(), { header: { status: '0' }, payload: { data: null, type: 'dummy', id: 'd1' } });
    client.close();
  });

  test('builtin close closes the connection', async () => {
    const { client } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    client.send(message('builtin', 'b1', { command: { type: 'close' } }));
    assert.equal(await client.waitClosed(), true);
    assert.equal(d.server.registry.isOnline('alice'), false, 'forgotten at once');
  });

  test('an unknown builtin command is a bad report; the connection stays', async () => {
    const { client } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    client.send(message('builtin', 'b2', { command: { type: 'reboot' } }));
    const r = (await client.next()) as { header: { status: string; code: string } };
    assert.equal(r.header.status, 'bad');
    assert.equal(r.header.code, 'unknown_builtin');
    client.send(message('dummy', 'd2', null));
    assert.equal(((await client.next()) as { payload: { id: string } }).payload.id, 'd2');
    client.close();
  });

  test('an unknown type is a bad report with a reason; the connection stays open', async () => {
    const { client } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    client.send(message('nosuchtype', 'u1', 1));
    const r = (await client.next()) as { header: Record<string, unknown>; payload: { id: string } };
    assert.equal(r.header.status, 'bad');
    assert.equal(r.header.messageType, 'statusReport');
    assert.equal(r.header.code, 'unknown_type');
    assert.match(String(r.header.reason), /nosuchtype/);
    assert.equal(r.payload.id, 'u1');
    client.send(message('dummy', 'd3', null));
    assert.ok(await client.next());
    client.close();
  });

  test('frames split byte by byte are read correctly', async () => {
    const client = await RawClient.connect({ port: d.port });
    const bytes = Buffer.concat([encodeFrame(login('alice', 'alice-pw')), encodeFrame(message('dummy', 'split', null))]);
    for (let i = 0; i < bytes.length; i++) {
      client.write(bytes.subarray(i, i + 1));
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await client.next(), GOOD_LOGIN);
    assert.equal(((await client.next()) as { payload: { id: string } }).payload.id, 'split');
    client.close();
  });

  test('several frames in one write are each answered, in order', async () => {
    const client = await RawClient.connect({ port: d.port });
    client.write(Buffer.concat([login('alice', 'alice-pw'), ...[1, 2, 3].map((n) => message('dummy', `m${n}`, n))].map((v) => encodeFrame(v))));
    assert.deepEqual(await client.next(), GOOD_LOGIN);
    for (const n of [1, 2, 3]) assert.equal(((await client.next()) as { payload: { id: string } }).payload.id, `m${n}`);
    client.close();
  });

  describe('malformed input gets an error, then a clean close, and leaves others working', () => {
    async function expectFatal(setup: (c: RawClient) => void | Promise<void>, code: string, id: string | null = null): Promise<void> {
      const bystander = await loggedIn({ port: d.port }, 'carol', 'carol-pw');
      const client = await RawClient.connect({ port: d.port });
      await setup(client);
      const r = (await client.next()) as { header: Record<string, unknown>; payload: { id: unknown } };
      assert.equal(r.header.status, 'bad', JSON.stringify(r));
      assert.equal(r.header.code, code);
      assert.equal(typeof r.header.reason, 'string');
      assert.equal(r.payload.id, id);
      assert.equal(await client.waitClosed(), true, 'closed');
      bystander.client.send(message('dummy', 'still-here', null));
      assert.equal(((await bystander.client.next()) as { payload: { id: string } }).payload.id, 'still-here');
      bystander.client.close();
    }
    const frameOf = (text: string): Buffer => {
      const body = Buffer.from(text);
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(body.length, 0);
      return Buffer.concat([prefix, body]);
    };

    test('not JSON', () => expectFatal((c) => c.write(frameOf('{"header":')), 'malformed_json'));
    test('not UTF-8', () => expectFatal((c) => c.write(frameOf('"\xff"').fill(0xff, 5, 6)), 'malformed_json'));
    test('not an object', () => expectFatal((c) => c.write(frameOf('[1,2,3]')), 'not_an_object'));
    test('no scope', () => expectFatal((c) => c.send({ header: {}, payload: {} }), 'unknown_scope'));
    test('server scope is refused unless the config allows legacy peers', () =>
      expectFatal((c) => c.send({ header: { scope: 'server' }, payload: { type: 'x', data: 1 } }), 'server_scope_refused'));
    test('a zero-length frame', () => expectFatal((c) => c.write(Buffer.alloc(4)), 'malformed_frame'));
    test('an oversize login frame, refused from its length prefix', () =>
      expectFatal((c) => {
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32LE(1025, 0);
        c.write(prefix);
      }, 'frame_too_large'));
    test('an oversize frame after login (the client limit)', () =>
      expectFatal(async (c) => {
        c.send(login('alice', 'alice-pw'));
        await c.next();
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32LE(4097, 0);
        c.write(prefix);
      }, 'frame_too_large'));
    test('a truncated frame (the client stops sending mid-frame)', () =>
      expectFatal((c) => {
        c.write(frameOf('{"header":{"scope":"client"}}').subarray(0, 10));
        c.socket.end();
      }, 'malformed_frame'));
    test('a message without an id', () =>
      expectFatal(async (c) => {
        c.send(login('alice', 'alice-pw'));
        await c.next();
        c.send({ header: {}, payload: { type: 'dummy', data: 1 } });
      }, 'invalid_message'));
    test('a message without a type: bad report for its id', () =>
      expectFatal(async (c) => {
        c.send(login('alice', 'alice-pw'));
        await c.next();
        c.send({ header: {}, payload: { id: 'x1', data: 1 } });
      }, 'invalid_message', 'x1'));
    test('no login within the deadline', () => expectFatal(() => undefined, 'login_timeout'));
  });
});

describe('daemon: lifecycle', () => {
  test('close() removes the UNIX socket file and can be called twice', async () => {
    const d = await startTestDaemon({ listeners: ['unix'] });
    assert.ok(existsSync(d.unixPath));
    await d.server.close();
    assert.equal(existsSync(d.unixPath), false);
    await d.close();
  });

  test('a stale socket file left by a crash is replaced; a live one is never taken over', async () => {
    const dir = tempDir();
    const sock = path.join(dir, 's.sock');
    // A crashed process: the socket file stays, nobody accepts on it.
    execFileSync(python3(), ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', sock]);
    assert.ok(statSync(sock).isSocket());
    const raw = { network: { types: ['unix'], unix: { address: sock } } };
    const server = await startServer(parseConfig(raw, { baseDir: dir }).config);
    const { client, answer } = await loggedIn({ path: sock }, 'nobody', 'x');
    assert.equal((answer as { header: { status: string } }).header.status, 'bad', 'the daemon answers on the replaced socket');
    client.close();
    // A second daemon on the same path must refuse, not steal the socket from the first.
    await assert.rejects(startServer(parseConfig(raw, { baseDir: dir }).config), /another process is accepting/);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
