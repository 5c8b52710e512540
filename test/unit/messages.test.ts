import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { goodReportJson, statusReport } from '../../src/protocol/builders.ts';
import { goodReportFrame } from '../../src/protocol/frame-pieces.ts';
import { parseHandlerReply } from '../../src/protocol/handler-reply.ts';
import { builtinCommand, validateClientMessage, validateFirstMessage } from '../../src/protocol/messages.ts';

describe('validateFirstMessage', () => {
  test('client scope with credentials', () => {
    const r = validateFirstMessage({ header: { scope: 'client', authentication: { username: ' alice ', password: 'pw' } } });
    assert.deepEqual(r, { ok: true, value: { scope: 'client', credentials: { username: ' alice ', password: 'pw' }, features: [] } });
  });
  test('client scope without credentials reads as no credentials (the login then fails)', () => {
    const r = validateFirstMessage({ header: { scope: 'client' }, payload: {} });
    assert.deepEqual(r, { ok: true, value: { scope: 'client', credentials: null, features: [] } });
  });
  test('header.features: the names listed (§2.2.1); anything else is ignored', () => {
    const read = (features: unknown): unknown => {
      const r = validateFirstMessage({ header: { scope: 'client', features, authentication: { username: 'a', password: 'p' } } });
      return r.ok && r.value.scope === 'client' ? r.value.features : 'invalid';
    };
    assert.deepEqual(read(['ping', 'future']), ['ping', 'future']);
    assert.deepEqual(read(['ping', 3, null, { a: 1 }]), ['ping']);
    assert.deepEqual(read('ping'), []);
    assert.deepEqual(read(undefined), []);
    assert.equal((read(Array.from({ length: 100 }, () => 'x')) as string[]).length, 32, 'at most 32 read');
  });
  test('missing or unknown scope', () => {
    assert.equal(validateFirstMessage({ header: {} }).ok, false);
    const r = validateFirstMessage({ header: { scope: 'admin' } });
    assert.ok(!r.ok && r.code === 'unknown_scope' && r.reason.includes('"admin"'));
  });
  test('not an object', () => {
    for (const v of [null, 1, 'x', [], true]) {
      const r = validateFirstMessage(v);
      assert.ok(!r.ok && r.code === 'not_an_object');
    }
  });
  test('server scope: id optional, as the original sent it', () => {
    const r = validateFirstMessage({ header: { scope: 'server' }, payload: { type: 'M1', data: { x: 1 } } });
    assert.deepEqual(r, { ok: true, value: { scope: 'server', payload: { type: 'M1', id: null, data: { x: 1 } } } });
  });
  test('a __proto__ header does not count as a scope', () => {
    const r = validateFirstMessage(JSON.parse('{"__proto__":{"header":{"scope":"client"}}}'));
    assert.equal(r.ok, false);
  });
});

describe('validateClientMessage', () => {
  test('complete message', () => {
    assert.deepEqual(validateClientMessage({ header: {}, payload: { type: 't', id: '1', data: null } }), {
      ok: true,
      value: { type: 't', id: '1', data: null },
    });
  });
  test('missing id, type or data', () => {
    const noId = validateClientMessage({ header: {}, payload: { type: 't', data: 1 } });
    assert.ok(!noId.ok && noId.id === null);
    const noType = validateClientMessage({ header: {}, payload: { id: '7', data: 1 } });
    assert.ok(!noType.ok && noType.id === '7' && noType.code === 'invalid_message');
    const noData = validateClientMessage({ header: {}, payload: { id: '8', type: 't' } });
    assert.ok(!noData.ok && noData.id === '8' && noData.reason.includes('data'));
  });
  test('missing header', () => {
    const r = validateClientMessage({ payload: { type: 't', id: '1', data: 1 } });
    assert.ok(!r.ok && r.reason.includes('header') && r.id === '1');
  });
  test('inherited fields are not read', () => {
    const payload = Object.create({ type: 't', id: '1', data: 1 }) as object;
    assert.equal(validateClientMessage({ header: {}, payload }).ok, false);
  });
});

describe('builtinCommand', () => {
  test('reads data.command.type', () => {
    assert.equal(builtinCommand({ command: { type: 'close' } }), 'close');
    assert.equal(builtinCommand({ command: 'close' }), null);
    assert.equal(builtinCommand(null), null);
  });
});

describe('parseHandlerReply', () => {
  test('the form original handlers send', () => {
    const r = parseHandlerReply({ header: { status: '0', command: { type: 'sendClients', data: ['alice', 'bob'] } }, data: { t: 1 } });
    assert.deepEqual(r, { ok: true, command: { kind: 'sendClients', users: ['alice', 'bob'] }, data: { t: 1 }, dataPath: ['data'], quirk: null });
  });
  test('the form the specification text describes', () => {
    const r = parseHandlerReply({ header: { status: '0', command: 'sendHandler', commandData: 'next' }, payload: { data: 5 } });
    assert.deepEqual(r, { ok: true, command: { kind: 'sendHandler', handler: 'next' }, data: 5, dataPath: ['payload', 'data'], quirk: null });
  });
  test('"00" and 0 count as success; other statuses are handler errors', () => {
    const ok = (status: unknown): boolean => parseHandlerReply({ header: { status, command: { type: 'sendClients', data: [] } }, data: 1 }).ok;
    assert.equal(ok('00'), true);
    assert.equal(ok(0), true);
    const r = parseHandlerReply({ header: { status: '1' } });
    assert.ok(!r.ok && r.code === 'handler_error' && r.reason.includes('1'));
    assert.ok(!parseHandlerReply({ header: { status: 'zero', command: { type: 'sendClients', data: [] } } }).ok);
    const explained = parseHandlerReply({ header: { status: '1', error: 'you have not joined room "x"' } });
    assert.ok(!explained.ok && explained.reason === 'the handler answered status 1: you have not joined room "x"');
  });
  test('an unknown command with a list of names is read as sendClients, as the original did', () => {
    const r = parseHandlerReply({ header: { status: '0', command: { type: 'sendEveryone', data: ['a'] } }, data: 1 });
    assert.ok(r.ok && r.command.kind === 'sendClients' && r.quirk !== null);
  });
  test('an unknown command without a list is refused', () => {
    const r = parseHandlerReply({ header: { status: '0', command: { type: 'launch', data: 3 } }, data: 1 });
    assert.ok(!r.ok && r.code === 'unknown_command');
  });
  test('bad shapes', () => {
    for (const v of [null, [], 'x', {}, { header: 1 }, { header: { status: '0' } }, { header: { status: '0', command: { type: 'sendClients', data: 'alice' } } }]) {
      assert.equal(parseHandlerReply(v).ok, false, JSON.stringify(v));
    }
  });
  test('sendServers keeps its targets', () => {
    const r = parseHandlerReply({ header: { status: '0', command: { type: 'sendServers', data: ['127.0.0.1:2220'] } }, data: null });
    assert.ok(r.ok && r.command.kind === 'sendServers' && r.command.servers[0] === '127.0.0.1:2220');
  });
});

describe('goodReportJson', () => {
  test('is, byte for byte, the JSON text of statusReport(id, true) for any id', () => {
    const ids = ['m1', '', 'auth_special', 'a "quoted" \\ id', 'üñíçødé', 'line\nbreak', '\u2028\u2029', '😀', '\u0000\u001f', '</script>'];
    for (const id of ids) assert.equal(goodReportJson(id), JSON.stringify(statusReport(id, true)), JSON.stringify(id));
  });

  test('goodReportFrame is its frame: the length, then those bytes', () => {
    const ids = ['m1', '', 'a "quoted" \\ id', 'üñíçødé', '😀', '\u0000\u001f'];
    for (const id of ids) {
      const frame = goodReportFrame(id);
      const text = JSON.stringify(statusReport(id, true));
      assert.equal(frame.readUInt32LE(0), Buffer.byteLength(text), JSON.stringify(id));
      assert.equal(frame.toString('utf8', 4), text, JSON.stringify(id));
    }
  });
});
