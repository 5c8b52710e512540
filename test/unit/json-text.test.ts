// Reading a member's exact text out of parsed JSON (src/protocol/json-text.ts): what the daemon
// passes on unchanged must be exactly what JSON.parse read there (docs/performance.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { deliveryJson } from '../../src/protocol/builders.ts';
import { encodeJsonPieces } from '../../src/protocol/frame.ts';
import { deliveryPieces } from '../../src/protocol/frame-pieces.ts';
import { jsonMemberSource, jsonMemberSpan } from '../../src/protocol/json-scan.ts';
import { JsonData, jsonTextOf, jsonTextOfPieces } from '../../src/protocol/json-text.ts';
import { multiplexRequestPieces } from '../../src/protocol/handler-multiplex.ts';

/** The value at `path` as JSON.parse sees it (own keys only, as the daemon reads them). */
function parsedAt(text: string, path: readonly string[]): unknown {
  let value: unknown = JSON.parse(text);
  for (const key of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function agrees(text: string, path: readonly string[]): void {
  const member = jsonMemberSource(text, path);
  const expected = parsedAt(text, path);
  if (expected === undefined) assert.equal(member, undefined, `no ${path.join('.')} in ${text}`);
  else {
    assert.notEqual(member, undefined, `${path.join('.')} in ${text}`);
    assert.deepEqual(JSON.parse(member!), expected);
  }
}

const INDENTS = [undefined, 2, '\t', ' \r\n\t'] as const;

describe('jsonMemberSource', () => {
  test('the exact text of a member, formatting kept', () => {
    const text = '{ "header" : {}, "payload" : { "id" : "1", "data" : { "a" : [1, 2.50, "x"] } , "type":"t" } }';
    assert.equal(jsonMemberSource(text, ['payload', 'data']), '{ "a" : [1, 2.50, "x"] }');
    assert.equal(jsonMemberSource(text, ['payload', 'id']), '"1"');
    assert.equal(jsonMemberSource(text, ['header']), '{}');
    assert.equal(jsonMemberSource(text, []), text);
  });

  test('scalars, up to their delimiter', () => {
    assert.equal(jsonMemberSource('{"data":12.5e3}', ['data']), '12.5e3');
    assert.equal(jsonMemberSource('{"data":-0 ,"x":1}', ['data']), '-0');
    assert.equal(jsonMemberSource('{"x":1,"data":null}', ['data']), 'null');
    assert.equal(jsonMemberSource('{"data":true\n}', ['data']), 'true');
  });

  test('a repeated key means the last one, as JSON.parse reads it', () => {
    assert.equal(jsonMemberSource('{"data":1,"data":[2]}', ['data']), '[2]');
    assert.equal(jsonMemberSource('{"payload":{"data":1},"payload":{"id":"x"}}', ['payload', 'data']), undefined);
    assert.equal(jsonMemberSource('{"payload":{"id":"x"},"payload":{"data":3}}', ['payload', 'data']), '3');
    assert.equal(jsonMemberSource('{"payload":{"data":1},"payload":5}', ['payload', 'data']), undefined);
    assert.equal(jsonMemberSource('{"payload":5,"payload":{"data":[1]}}', ['payload', 'data']), '[1]');
    // Three levels, the middle key repeated: the last middle one decides, within the last outer one.
    const deep = '{"a":{"b":{"c":1},"b":{"c":2}},"x":{"a":{"b":{"c":9}}}}';
    assert.equal(jsonMemberSource(deep, ['a', 'b', 'c']), '2');
    assert.equal(jsonMemberSource('{"a":{"b":{"c":1},"b":{"d":2}}}', ['a', 'b', 'c']), undefined);
    assert.equal(jsonMemberSource('{"a":{"b":{"c":1}},"a":{"b":{"c":3},"z":0}}', ['a', 'b', 'c']), '3');
  });

  test('text JSON.parse would refuse (bytes read before parsing): a member inside an object that does not read is not found', () => {
    assert.equal(jsonMemberSpan('{"payload":{"data":1, x},"y":2}', ['payload', 'data']), undefined);
    assert.equal(jsonMemberSpan('{"payload":{"data":1},"y":2}', ['payload', 'data'])?.join(), '19,20');
  });

  test('escaped keys are read as JSON does; a key that only looks alike is not the member', () => {
    assert.equal(jsonMemberSource(String.raw`{"d\u0061ta":5}`, ['data']), '5');
    assert.equal(jsonMemberSource(String.raw`{"da\\ta":5}`, ['data']), undefined);
    assert.equal(jsonMemberSource(String.raw`{"data\"":5,"data":6}`, ['data']), '6');
    assert.equal(jsonMemberSource('{"Data":5}', ['data']), undefined);
  });

  test('strings full of quotes, brackets and backslashes are skipped whole', () => {
    const text = JSON.stringify({ a: '"}{][\\', data: ['\\"', '\\\\"'], b: '\\' });
    assert.equal(jsonMemberSource(text, ['data']), JSON.stringify(['\\"', '\\\\"']));
  });

  test('undefined where a step is not an object or lacks the key', () => {
    assert.equal(jsonMemberSource('[{"data":1}]', ['data']), undefined);
    assert.equal(jsonMemberSource('{"payload":[1]}', ['payload', 'data']), undefined);
    assert.equal(jsonMemberSource('{"payload":"data"}', ['payload', 'data']), undefined);
    assert.equal(jsonMemberSource('{}', ['data']), undefined);
    assert.equal(jsonMemberSource('"data"', ['data']), undefined);
  });

  test('property: agrees with JSON.parse on any value at payload.data, in any layout', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(...INDENTS), (data, other, indent) => {
        const text = JSON.stringify({ header: { other }, payload: { type: 't', data, id: '1', other } }, null, indent);
        agrees(text, ['payload', 'data']);
        agrees(text, ['payload', 'id']);
        agrees(text, ['header', 'other']);
      }),
      { numRuns: 500 },
    );
  });

  test('property: agrees with JSON.parse on objects with tricky keys, repeated keys and absent members', () => {
    const key = fc.oneof(fc.constantFrom('data', 'payload', 'reply', 'd\\u0061ta'), fc.string({ unit: fc.constantFrom('d', 'a', 't', '"', '\\', '{', '[', 'é') }));
    const member = fc.tuple(key, fc.jsonValue({ maxDepth: 3 }));
    fc.assert(
      fc.property(fc.array(member, { maxLength: 6 }), fc.array(member, { maxLength: 4 }), (outer, inner) => {
        // Written by hand so that keys can repeat; a key given as d\u0061ta is written escaped.
        const write = (members: [string, unknown][], nested?: string): string => {
          const parts = members.map(([k, v]) => `${k === 'd\\u0061ta' ? '"d\\u0061ta"' : JSON.stringify(k)} : ${JSON.stringify(v)}`);
          if (nested !== undefined) parts.splice(Math.floor(parts.length / 2), 0, `"payload":${nested}`);
          return `{ ${parts.join(' ,\n')} }`;
        };
        const text = write(outer, write(inner));
        for (const path of [['data'], ['payload', 'data'], ['payload'], ['reply', 'data'], ['payload', 'reply']]) agrees(text, path);
      }),
      { numRuns: 500 },
    );
  });
});

describe('JsonData.member', () => {
  test("a member's member is the exact text at the joined path, as one slice of the frame", () => {
    const text = '{ "id" : 7, "reply": {"header":{"status":"0"} ,"data" : {"n": 12345678901234567890, "s":"a\\"}"}}}';
    const frame = new JsonData(JSON.parse(text), text);
    const reply = frame.member(['reply'], (JSON.parse(text) as { reply: unknown }).reply);
    const data = reply.member(['data'], null);
    assert.equal(data.text, '{"n": 12345678901234567890, "s":"a\\"}"}');
    assert.equal(data.source, data.text);
    assert.equal(reply.text, '{"header":{"status":"0"} ,"data" : {"n": 12345678901234567890, "s":"a\\"}"}}');
    assert.equal(reply.member(['header'], null).text, '{"status":"0"}');
  });

  test('a member not in the text is its value serialised; no path: the value alone', () => {
    const text = '{"a":{"b":1}}';
    const frame = new JsonData(JSON.parse(text), text);
    assert.equal(frame.member(['a'], { b: 1 }).member(['c'], [2, 3]).text, '[2,3]');
    assert.equal(frame.member(['a'], { b: 1 }).member(['c'], [2, 3]).hasText, false);
    assert.equal(frame.member(null, { x: 1 }).text, '{"x":1}');
  });
});

describe('JSON text spliced into frames', () => {
  test('a delivery with the data text is the same JSON as the serialised delivery', () => {
    const delivery = (type: string, data: unknown): object => ({ header: { messageType: 'receivedMessage' }, payload: { data, type } });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), fc.string(), fc.constantFrom(...INDENTS), (data, type, indent) => {
        assert.equal(deliveryJson(type, data), JSON.stringify(delivery(type, data)));
        assert.deepEqual(JSON.parse(deliveryJson(type, data, JSON.stringify(data, null, indent))), JSON.parse(JSON.stringify(delivery(type, data))));
      }),
      { numRuns: 300 },
    );
  });

  test('a delivery in pieces, written as a frame, is the delivery text, whichever type came before', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('chat', 'échange', '', 'a"b')), { minLength: 1, maxLength: 8 }), (items) => {
        for (const [data, type] of items) {
          const text = JSON.stringify(data, null, 1);
          const frame = encodeJsonPieces(deliveryPieces(type, new JsonData(data, text))) as Buffer;
          assert.equal(frame.toString('utf8', 4), deliveryJson(type, data, text));
          assert.equal(jsonTextOfPieces(deliveryPieces(type, data)), deliveryJson(type, data));
        }
      }),
      { numRuns: 200 },
    );
  });

  test('a multiplex request with the input text', () => {
    assert.equal(jsonTextOfPieces(multiplexRequestPieces(7, new JsonData({ a: 1 }, '{ "a" : 1 }'))), '{"id":7,"input":{ "a" : 1 }}');
    assert.equal(jsonTextOfPieces(multiplexRequestPieces(7, { a: 1 })), '{"id":7,"input":{"a":1}}');
  });

  test('jsonTextOf serialises only when no text is known, and refuses what JSON cannot hold', () => {
    assert.equal(jsonTextOf({ a: 1 }, ' 1 '), ' 1 ');
    assert.equal(jsonTextOf({ a: 1 }), '{"a":1}');
    assert.throws(() => jsonTextOf(undefined), TypeError);
    assert.throws(() => jsonTextOf(10n), TypeError);
  });
});
