// Checking JSON without building it (isJsonBytes, src/protocol/json-text.ts), and frames read with their big
// member left as text (parseFrameText's `lazy`, src/protocol/frame.ts): both must accept exactly
// what JSON.parse accepts, or a peer or handler could pass the daemon text that is not JSON.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BesterError } from '../../src/protocol/errors.ts';
import { parseFrameText } from '../../src/protocol/frame.ts';
import { isJsonBytes } from '../../src/protocol/json-bytes.ts';
import { jsonMemberSource } from '../../src/protocol/json-scan.ts';

/** isJsonBytes on the text's UTF-8 (offsets: the text is ASCII where a test gives them). */
function isJson(text: string, start?: number, end?: number): boolean {
  const bytes = Buffer.from(text);
  return isJsonBytes(bytes, start, end ?? bytes.length);
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Characters that make and break JSON: structure, escapes, digits, literals' letters, spaces, controls. */
const JSONISH = fc.constantFrom(...'{}[]:,"\\/bfnrtu0123456789abcdefABCDEF.eE+- \t\n\r\u0000\u001f\u00e9\u2028x'.split(''));

/** A JSON text with one character inserted, removed or replaced. */
const mutated = fc
  .tuple(fc.jsonValue().map((v) => JSON.stringify(v, null, 1)), fc.nat(), JSONISH, fc.constantFrom('insert', 'remove', 'replace'))
  .map(([text, at, c, how]) => {
    const i = at % (text.length + 1);
    if (how === 'insert') return text.slice(0, i) + c + text.slice(i);
    if (how === 'remove') return text.slice(0, i) + text.slice(i + 1);
    return text.slice(0, i) + c + text.slice(i + 1);
  });

describe('isJsonBytes', () => {
  test('agrees with JSON.parse on hand-picked texts', () => {
    const texts = ['{}', '[]', ' {"a":1} ', '{"a":[1,2,{"b":null}],"c":"x\\u00e9\\n"}', '[1,]', '{"a":1,}', '01', '-0', '1.5.2', '-', '1.', '.5',
      '"\u0001"', '"\\x"', '"\\u12"', 'tru', 'truex', '[true false]', '{"a" 1}', '{1:2}', '', ' ', '"abc', '1e5', '-0.5E+3', '1e', '[[[]]]',
      '{"a":{"b":{}}}', '"\\ud800"', '\u00a01', '{"a":1}}', '[1]]', '{"a":1 "b":2}', 'nul', 'null null', '"a"b"'];
    for (const text of texts) assert.equal(isJson(text), parses(text), JSON.stringify(text));
  });

  test('accepts every serialised value, with any indentation', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.constantFrom(undefined, 1, '\t', ' \r\n'), (value, indent) => {
      assert.equal(isJson(JSON.stringify(value, null, indent)), true);
    }), { numRuns: 300 });
  });

  test('agrees with JSON.parse on random and broken texts', () => {
    fc.assert(fc.property(fc.array(JSONISH, { maxLength: 30 }).map((cs) => cs.join('')), (text) => {
      assert.equal(isJson(text), parses(text), JSON.stringify(text));
    }), { numRuns: 3000 });
    fc.assert(fc.property(mutated, (text) => {
      assert.equal(isJson(text), parses(text), JSON.stringify(text));
    }), { numRuns: 2000 });
  });

  test('reads a slice of a larger text only', () => {
    const text = 'xx{"a":[1,"b"]}yy';
    assert.equal(isJson(text, 2, 15), true);
    assert.equal(isJson(text, 2, 14), false);
    assert.equal(isJson(text, 2, 16), false);
  });

  test('long strings are read four bytes at a time: the same answers at every alignment and every place of an odd byte', () => {
    for (let offset = 0; offset < 4; offset++) {
      for (const odd of ['\u0001', '\u001f', '"', '\\', '\\n', '\\u00e9', '\\x', 'é', '\u007f']) {
        for (let at = 0; at < 12; at++) {
          const text = `["${'x'.repeat(at)}${odd}${'y'.repeat(20 - at)}"]`;
          const bytes = Buffer.from(text);
          const shifted = Buffer.alloc(bytes.length + offset);
          bytes.copy(shifted, offset);
          assert.equal(isJsonBytes(shifted, offset, shifted.length), parses(text), `${JSON.stringify(text)} at offset ${offset}`);
        }
      }
    }
  });

  test('a string of near a MiB, and one of 400,000 escapes, without running out of stack', () => {
    assert.equal(isJson(JSON.stringify({ blob: 'x'.repeat(1_000_000) })), true);
    assert.equal(isJson(JSON.stringify({ blob: '\n'.repeat(400_000) })), true);
    assert.equal(isJson(`{"blob":"${'x'.repeat(1_000_000)}\u0001"}`), false);
  });
});

const PEER_DATA = [['payload', 'data']] as const;
const REPLY_DATA = [['data'], ['payload', 'data']] as const;

function outcome(run: () => unknown): string {
  try {
    run();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof BesterError, `a BesterError, not ${String(err)}`);
    return err.code;
  }
}

describe('parseFrameText with a member left as text (lazy)', () => {
  test('the member comes as its own text; the rest is parsed; the whole value on demand', () => {
    const text = '{"header":{"a":1},"payload":{"type":"t","data":{"big":"xyz","n":[1,2]},"seq":3}}';
    const frame = parseFrameText(Buffer.from(text), { lazy: PEER_DATA, lazyMinBytes: 1 });
    const shallow = frame.shallowValue as { payload: { data: unknown; seq: number } };
    assert.equal(shallow.payload.data, null);
    assert.equal(shallow.payload.seq, 3);
    assert.equal(frame.hasValue, false);
    const payload = frame.member(['payload'], shallow.payload);
    const data = payload.member(['data'], null);
    assert.ok(Buffer.isBuffer(data.source), 'the member stays bytes: it is written on as it came');
    assert.equal(data.text, '{"big":"xyz","n":[1,2]}');
    assert.equal(data.hasValue, false);
    assert.deepEqual(data.value, { big: 'xyz', n: [1, 2] });
    assert.deepEqual(frame.value, JSON.parse(text));
  });

  test('shorter members, and frames without one, are parsed whole as before', () => {
    const small = parseFrameText(Buffer.from('{"data":{"a":1}}'), { lazy: REPLY_DATA });
    assert.equal(small.hasValue, true);
    const none = parseFrameText(Buffer.from('{"header":{}}'), { lazy: REPLY_DATA, lazyMinBytes: 1 });
    assert.equal(none.hasValue, true);
  });

  test('accepts and refuses exactly what the whole parse does, with the same member text', () => {
    const frames = fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.boolean()).map(([data, other, spec]) =>
      JSON.stringify(spec ? { header: { status: '0' }, payload: { data, other } } : { header: { status: '0' }, data, other }, null, 1));
    const run = (text: string): void => {
      const body = Buffer.from(text);
      const whole = outcome(() => parseFrameText(body));
      const lazy = outcome(() => parseFrameText(body, { lazy: REPLY_DATA, lazyMinBytes: 0 }));
      assert.equal(lazy, whole, JSON.stringify(text));
      if (whole !== 'ok') return;
      const value = JSON.parse(text) as Record<string, unknown>;
      const frame = parseFrameText(body, { lazy: REPLY_DATA, lazyMinBytes: 0 });
      assert.deepEqual(frame.value, value);
      const path = Object.hasOwn(value, 'data') ? ['data'] : ['payload', 'data'];
      if (jsonMemberSource(text, path) !== undefined) assert.equal(frame.member(path, null).text, jsonMemberSource(text, path));
    };
    fc.assert(fc.property(frames, run), { numRuns: 500 });
    fc.assert(fc.property(frames, fc.nat(), JSONISH, (text, at, c) => {
      const i = at % text.length;
      run(text.slice(0, i) + c + text.slice(i + 1));
      run(text.slice(0, i) + c + text.slice(i));
    }), { numRuns: 2000 });
  });

  test('a big member that is not JSON is refused as malformed_json', () => {
    const text = `{"payload":{"data":"${'x'.repeat(70_000)}\\q"}}`;
    assert.equal(outcome(() => parseFrameText(Buffer.from(text), { lazy: PEER_DATA })), 'malformed_json');
  });
});
