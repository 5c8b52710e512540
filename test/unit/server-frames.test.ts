// Frames from a server, validated right after parsing (src/sdk/server-frames.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deliveryJson, dummyReply, errorFrame, statusReport } from '../../src/protocol/builders.ts';
import { readServerFrame } from '../../src/sdk/server-frames.ts';

describe('readServerFrame', () => {
  test("reads the daemon's own frames (src/protocol/builders.ts)", () => {
    const good = statusReport('m1', true);
    assert.deepEqual(readServerFrame(good), { ok: true, frame: { kind: 'status', report: { id: 'm1', status: 'good', raw: good } } });
    const bad = statusReport('m2', false, { code: 'recipients_offline', reason: 'offline', undelivered: ['bob'] });
    assert.deepEqual(readServerFrame(bad), {
      ok: true,
      frame: { kind: 'status', report: { id: 'm2', status: 'bad', code: 'recipients_offline', reason: 'offline', undelivered: ['bob'], raw: bad } },
    });
    const kept = statusReport('m3', true, { stored: ['carol'] });
    assert.deepEqual(readServerFrame(kept), { ok: true, frame: { kind: 'status', report: { id: 'm3', status: 'good', stored: ['carol'], raw: kept } } });
    assert.deepEqual(readServerFrame(JSON.parse(deliveryJson('chat', { text: 'hi' }))), { ok: true, frame: { kind: 'delivery', delivery: { type: 'chat', data: { text: 'hi' } } } });
    const dummy = dummyReply('d1');
    assert.deepEqual(readServerFrame(dummy), { ok: true, frame: { kind: 'status', report: { id: 'd1', status: 'good', raw: dummy } } });
    const fatal = errorFrame('malformed_json', 'frame is not valid JSON');
    assert.deepEqual(readServerFrame(fatal), { ok: true, frame: { kind: 'error', code: 'malformed_json', reason: 'frame is not valid JSON', raw: fatal } });
  });

  test('refuses what is not an envelope, or a status report without id or status', () => {
    for (const value of [null, 1, 'x', [], {}, { header: {} }, { payload: {} }, { header: [], payload: {} }, { header: {}, payload: 'x' },
      { header: { messageType: 'statusReport', status: 'good' }, payload: {} },
      { header: { messageType: 'statusReport', status: 'ok' }, payload: { id: 'a' } },
      { header: { messageType: 'receivedMessage' }, payload: { data: 1 } }]) {
      assert.equal(readServerFrame(value).ok, false, JSON.stringify(value));
    }
  });

  test('frames of kinds it does not know are "unknown", not errors (the protocol grows additively)', () => {
    for (const value of [{ header: { messageType: 'presence' }, payload: {} }, { header: {}, payload: { id: 'x' } }, { header: { status: '0' }, payload: { type: 'other', id: 'x' } }]) {
      const read = readServerFrame(value);
      assert.ok(read.ok);
      assert.equal(read.frame.kind, 'unknown');
    }
  });

  test("the server's ping (§5.3); one without a string id is unknown", () => {
    assert.deepEqual(readServerFrame({ header: { messageType: 'ping' }, payload: { id: 'ping-1' } }), {
      ok: true,
      frame: { kind: 'ping', id: 'ping-1' },
    });
    const odd = { header: { messageType: 'ping' }, payload: { id: 1 } };
    assert.deepEqual(readServerFrame(odd), { ok: true, frame: { kind: 'unknown', raw: odd } });
  });

  test('reads own properties only; ill-typed optional fields are left out', () => {
    const inherited = JSON.parse('{"header": {"__proto__": {"messageType": "statusReport", "status": "good"}}, "payload": {"id": "x"}}') as unknown;
    const read = readServerFrame(inherited);
    assert.ok(read.ok);
    assert.equal(read.frame.kind, 'unknown');
    const odd = { header: { messageType: 'statusReport', status: 'bad', code: 5, reason: null, undelivered: ['a', 1] }, payload: { id: 'i' } };
    const report = readServerFrame(odd);
    assert.deepEqual(report, { ok: true, frame: { kind: 'status', report: { id: 'i', status: 'bad', raw: odd } } });
    const noData = readServerFrame({ header: { messageType: 'receivedMessage' }, payload: { type: 't' } });
    assert.deepEqual(noData, { ok: true, frame: { kind: 'delivery', delivery: { type: 't', data: null } } });
    const bareError = readServerFrame({ header: { messageType: 'error' }, payload: {} });
    assert.ok(bareError.ok && bareError.frame.kind === 'error');
    assert.equal(bareError.frame.code, 'internal_error');
  });
});
