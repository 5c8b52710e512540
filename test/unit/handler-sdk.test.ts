// The handler SDK's pure parts: reply builders, option resolution, reading a request (docs/handlers.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHandlerReply } from '../../src/protocol/handler-reply.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  readRequest,
  replyError,
  resolveServeOptions,
  sendClients,
  sendHandler,
  sendServers,
} from '../../src/sdk/handler.ts';

describe('handler SDK: reply builders', () => {
  test('each builder makes the reply shape original handlers send (docs/protocol.md §4.2)', () => {
    assert.deepEqual(sendClients(['alice', 'bob'], { t: 1 }), {
      header: { status: '0', command: { type: 'sendClients', data: ['alice', 'bob'] } },
      data: { t: 1 },
    });
    assert.deepEqual(sendHandler('english', 'x'), { header: { status: '0', command: { type: 'sendHandler', data: 'english' } }, data: 'x' });
    assert.deepEqual(sendServers(['h:1'], null), { header: { status: '0', command: { type: 'sendServers', data: ['h:1'] } }, data: null });
    assert.deepEqual(replyError('no'), { header: { status: '1', error: 'no' }, data: null });
  });

  test('the daemon reads what the builders make', () => {
    assert.deepEqual(parseHandlerReply(sendClients(['a'], 5)), { ok: true, command: { kind: 'sendClients', users: ['a'] }, data: 5, dataPath: ['data'], quirk: null });
    assert.deepEqual(parseHandlerReply(sendHandler('b', 5)), { ok: true, command: { kind: 'sendHandler', handler: 'b' }, data: 5, dataPath: ['data'], quirk: null });
    assert.deepEqual(parseHandlerReply(sendServers(['h:1'], 5)), { ok: true, command: { kind: 'sendServers', servers: ['h:1'] }, data: 5, dataPath: ['data'], quirk: null });
    const failed = parseHandlerReply(replyError('nope'));
    assert.equal(failed.ok, false);
    assert.equal(!failed.ok && failed.code, 'handler_error');
  });

  test('the recipient list is copied: changing the array later does not change the reply', () => {
    const users = ['a'];
    const reply = sendClients(users, null);
    users.push('b');
    assert.deepEqual(reply.header.command.data, ['a']);
  });
});

describe('handler SDK: options', () => {
  const argv = ['node', 'handler.ts'];

  test('socket path: option, then BESTER_HANDLER_SOCKET, then the first argument', () => {
    const env = { BESTER_HANDLER_SOCKET: '/env.sock' };
    assert.equal(resolveServeOptions({ socketPath: '/opt.sock' }, env, [...argv, '/arg.sock']).socketPath, '/opt.sock');
    assert.equal(resolveServeOptions({}, env, [...argv, '/arg.sock']).socketPath, '/env.sock');
    assert.equal(resolveServeOptions({}, {}, [...argv, '/arg.sock']).socketPath, '/arg.sock');
    assert.equal(resolveServeOptions({}, { BESTER_HANDLER_SOCKET: '' }, [...argv, '/arg.sock']).socketPath, '/arg.sock');
  });

  test('no socket path at all, or one too long for a UNIX socket, is an error that says what to do', () => {
    assert.throws(() => resolveServeOptions({}, {}, argv), /BESTER_HANDLER_SOCKET/);
    assert.throws(() => resolveServeOptions({ socketPath: `/${'x'.repeat(120)}` }, {}, argv), /longer than 107 bytes/);
  });

  test('input: option, then BESTER_HANDLER_INPUT, then data; anything else is refused', () => {
    const base = { BESTER_HANDLER_SOCKET: '/s' };
    assert.equal(resolveServeOptions({}, base, argv).input, 'data');
    assert.equal(resolveServeOptions({}, { ...base, BESTER_HANDLER_INPUT: 'envelope' }, argv).input, 'envelope');
    assert.equal(resolveServeOptions({ input: 'data' }, { ...base, BESTER_HANDLER_INPUT: 'envelope' }, argv).input, 'data');
    assert.equal(resolveServeOptions({ input: 'envelope' }, base, argv).input, 'envelope');
    assert.throws(() => resolveServeOptions({}, { ...base, BESTER_HANDLER_INPUT: 'both' }, argv), /"data" or "envelope"/);
  });

  test('defaults: 1 MiB requests, signals handled, socket mode 0600, type from BESTER_HANDLER_TYPE', () => {
    const resolved = resolveServeOptions({}, { BESTER_HANDLER_SOCKET: '/s', BESTER_HANDLER_TYPE: 'chat' }, argv);
    assert.equal(resolved.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
    assert.equal(DEFAULT_MAX_FRAME_BYTES, 1024 * 1024);
    assert.equal(resolved.handleSignals, true);
    assert.equal(resolved.socketMode, 0o600);
    assert.equal(resolved.type, 'chat');
    assert.equal(resolveServeOptions({ type: 'mine' }, { BESTER_HANDLER_SOCKET: '/s', BESTER_HANDLER_TYPE: 'chat' }, argv).type, 'mine');
    assert.equal(resolveServeOptions({}, { BESTER_HANDLER_SOCKET: '/s' }, argv).type, '');
    assert.throws(() => resolveServeOptions({ maxFrameBytes: 0 }, { BESTER_HANDLER_SOCKET: '/s' }, argv), /maxFrameBytes/);
  });
});

describe('handler SDK: reading a request', () => {
  test('data input: the request is the data; no sender, no id', () => {
    assert.deepEqual(readRequest({ to: 'bob' }, 'data', 'echo'), {
      data: { to: 'bob' },
      context: { sender: null, type: 'echo', id: null },
    });
    assert.deepEqual(readRequest(null, 'data', '').data, null);
  });

  test('envelope input (docs/protocol.md §4.4): the inner data, and sender, type and id as context', () => {
    assert.deepEqual(readRequest({ sender: 'alice', type: 'chat', id: 'm1', data: [1] }, 'envelope', 'ignored'), {
      data: [1],
      context: { sender: 'alice', type: 'chat', id: 'm1' },
    });
    // A legacy server-scope message has no sender and may have no id.
    assert.deepEqual(readRequest({ sender: null, type: 'chat', data: null }, 'envelope', '').context, { sender: null, type: 'chat', id: null });
  });

  test('envelope input refuses a request that is not an envelope, naming the config key to set', () => {
    for (const bad of [{ to: 'bob' }, null, [1], { sender: 5, type: 't', id: 'i', data: 1 }, { sender: 'a', type: 't', id: 'i' }]) {
      assert.throws(() => readRequest(bad, 'envelope', ''), /"input": "envelope"/);
    }
  });

  test('an envelope is read by own keys only', () => {
    const sneaky = JSON.parse('{"__proto__":{"data":1,"sender":"x","type":"t","id":"i"}}') as unknown;
    assert.throws(() => readRequest(sneaky, 'envelope', ''), /envelope/);
  });
});
