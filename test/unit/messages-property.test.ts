// Property tests of validation right after JSON.parse (STYLE.md #2, docs/protocol.md §2, §3.2,
// §4.2): any value gives a typed result and never throws; valid messages come out exactly as built.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeFrame, parseFrameJson } from '../../src/protocol/frame.ts';
import { readMultiplexReply } from '../../src/protocol/handler-multiplex.ts';
import { parseHandlerReply } from '../../src/protocol/handler-reply.ts';
import { builtinCommand, validateClientMessage, validateFirstMessage } from '../../src/protocol/messages.ts';

const MESSAGE_CODES = ['not_an_object', 'invalid_message', 'unknown_scope'];
const REPLY_CODES = ['handler_bad_reply', 'handler_error', 'unknown_command'];

/** JSON values, plus shapes close to valid ones, with hostile keys mixed in. */
const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'header', 'payload', 'type', 'id', 'data');
const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 5 }),
  fc.dictionary(hostileKey, fc.jsonValue({ maxDepth: 3 })),
  fc.record(
    { header: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.dictionary(hostileKey, fc.jsonValue({ maxDepth: 2 }))), payload: fc.dictionary(hostileKey, fc.jsonValue({ maxDepth: 2 })) },
    { requiredKeys: [] },
  ),
);
/** Through JSON text, as the daemon sees it: `__proto__` keys become own data properties. */
const parsed = jsonish.map((v) => JSON.parse(JSON.stringify(v)) as unknown);
const anyValue = fc.oneof(parsed, fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withSparseArray: true }));

function assertTyped(r: { ok: boolean }, codes: readonly string[]): void {
  if (r.ok) return;
  const { code, reason } = r as unknown as { code: string; reason: string };
  assert.ok(codes.includes(code), `unexpected code ${code}`);
  assert.equal(typeof reason, 'string');
  assert.ok(reason.length > 0);
}

describe('validation never throws and always answers with a typed result', () => {
  test('validateClientMessage', () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const r = validateClientMessage(value);
        assertTyped(r, MESSAGE_CODES);
        if (!r.ok) assert.ok(r.id === null || typeof r.id === 'string');
      }),
      { numRuns: 1000 },
    );
  });

  test('validateFirstMessage', () => {
    fc.assert(
      fc.property(anyValue, (value) => assertTyped(validateFirstMessage(value), MESSAGE_CODES)),
      { numRuns: 1000 },
    );
  });

  test('parseHandlerReply', () => {
    fc.assert(
      fc.property(anyValue, (value) => assertTyped(parseHandlerReply(value), REPLY_CODES)),
      { numRuns: 1000 },
    );
  });

  test('builtinCommand', () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const command = builtinCommand(value);
        assert.ok(command === null || typeof command === 'string');
      }),
      { numRuns: 500 },
    );
  });

  test('nothing it reads leaks into Object.prototype', () => {
    fc.assert(
      fc.property(parsed, (value) => {
        validateClientMessage(value);
        validateFirstMessage(value);
        parseHandlerReply(value);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.deepEqual(Object.keys(Object.prototype), []);
      }),
      { numRuns: 300 },
    );
  });
});

/** A deep copy whose objects have no prototype: a plain read of a key there can only be an own read. */
function withoutPrototypes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutPrototypes);
  if (typeof value !== 'object' || value === null) return value;
  const copy = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value)) copy[key] = withoutPrototypes((value as Record<string, unknown>)[key]);
  return copy;
}

/** What a result says, as JSON text (prototypes aside: data copied without them reads the same). */
function said(result: unknown): string {
  return JSON.stringify(result);
}

describe('the validators on the message path read own keys only', () => {
  // A value from JSON.parse with hostile keys ('__proto__', 'constructor', 'toString' as own
  // members) must validate exactly as its prototype-free copy does: anything read from
  // Object.prototype instead of the value itself would make the two differ.
  test('validateClientMessage, parseHandlerReply and readMultiplexReply agree with a prototype-free copy', () => {
    fc.assert(
      fc.property(parsed, (value) => {
        const bare = withoutPrototypes(value);
        assert.equal(said(validateClientMessage(value)), said(validateClientMessage(bare)));
        assert.equal(said(parseHandlerReply(value)), said(parseHandlerReply(bare)));
        assert.equal(said(readMultiplexReply(value)), said(readMultiplexReply(bare)));
        const wrapped = JSON.parse(JSON.stringify({ id: 1, reply: value })) as unknown;
        assert.equal(said(readMultiplexReply(wrapped)), said(readMultiplexReply(withoutPrototypes(wrapped))));
      }),
      { numRuns: 1000 },
    );
  });

  test('a member named __proto__ supplies nothing', () => {
    const message = JSON.parse('{"header":{},"payload":{"id":"1","type":"t","__proto__":{"data":1}}}') as unknown;
    const r = validateClientMessage(message);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /"payload\.data" is required/);
    const reply = JSON.parse('{"__proto__":{"header":{"status":"0","command":{"type":"sendClients","data":["a"]}}}}') as unknown;
    assert.deepEqual(parseHandlerReply(reply), { ok: false, code: 'handler_bad_reply', reason: 'the handler reply has no "header" object' });
    assert.equal(readMultiplexReply(JSON.parse('{"id":1,"__proto__":{"reply":{}}}')), null);
  });
});

describe('valid messages validate to exactly themselves', () => {
  const header = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }));
  const payload = fc.record({ type: fc.string({ minLength: 1 }), id: fc.string(), data: fc.jsonValue({ maxDepth: 4 }) });

  test('client messages, as built and after a trip through a frame', () => {
    fc.assert(
      fc.property(header, payload, (h, p) => {
        const r = validateClientMessage({ header: h, payload: p });
        assert.ok(r.ok);
        assert.deepEqual(r.value, { type: p.type, id: p.id, data: p.data });
        assert.equal(r.value.data, p.data, 'the data is passed on as it is');
        const wire = parseFrameJson(encodeFrame({ header: h, payload: p }).subarray(4), { maxDepth: 64 });
        const again = validateClientMessage(wire);
        assert.ok(again.ok);
        assert.deepEqual(again.value, JSON.parse(JSON.stringify({ type: p.type, id: p.id, data: p.data })));
      }),
      { numRuns: 500 },
    );
  });

  test('client logins keep their credentials exactly (trimming is the session\'s job)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), header, (username, password, extra) => {
        const r = validateFirstMessage({ header: { ...extra, scope: 'client', authentication: { username, password } } });
        assert.ok(r.ok && r.value.scope === 'client');
        assert.deepEqual(r.value.credentials, { username, password });
      }),
      { numRuns: 300 },
    );
  });

  test('handler replies in both shapes give exactly their command and data', () => {
    const users = fc.array(fc.string(), { maxLength: 6 });
    const data = fc.jsonValue({ maxDepth: 4 });
    fc.assert(
      fc.property(users, data, fc.constantFrom('0', '00', 0), (to, d, status) => {
        const code = parseHandlerReply({ header: { status, command: { type: 'sendClients', data: to } }, data: d });
        assert.deepEqual(code, { ok: true, command: { kind: 'sendClients', users: to }, data: d, dataPath: ['data'], quirk: null });
        const spec = parseHandlerReply({ header: { status, command: 'sendServers', commandData: to }, payload: { data: d } });
        assert.deepEqual(spec, { ok: true, command: { kind: 'sendServers', servers: to }, data: d, dataPath: ['payload', 'data'], quirk: null });
      }),
      { numRuns: 300 },
    );
  });

  test('sendHandler names and non-zero statuses', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.integer({ min: -99999, max: 99999 }).filter((n) => n !== 0), (name, status) => {
        const forward = parseHandlerReply({ header: { status: '0', command: { type: 'sendHandler', data: name } }, data: 1 });
        assert.deepEqual(forward, { ok: true, command: { kind: 'sendHandler', handler: name }, data: 1, dataPath: ['data'], quirk: null });
        const failed = parseHandlerReply({ header: { status: String(status), command: { type: 'sendClients', data: [] } }, data: 1 });
        assert.ok(!failed.ok && failed.code === 'handler_error' && failed.reason.includes(String(status)));
      }),
      { numRuns: 300 },
    );
  });
});
