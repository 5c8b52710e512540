// A frame read with the member it will pass on found in the same pass that reads its depth
// (parseFrameText's `find`, json-scan.ts's scanMember; docs/protocol.md §1.3 and §4.1): the member's
// text is exactly what JSON.parse read there, the depth verdict is the text's, and frames that are
// not JSON objects, or not JSON, are refused as without it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseFrameText } from '../../src/protocol/frame.ts';
import { jsonMemberSource, jsonNestingDepth, scanMember } from '../../src/protocol/json-scan.ts';

const PAYLOAD_DATA = ['payload', 'data'] as const;
const REPLY_DATA = ['reply', 'data'] as const;
const INDENTS = [undefined, 2, '\t'] as const;
/** ASCII text, and text of any code point: the scanner reads UTF-8 bytes, and indexes in a text are not byte offsets once it is not ASCII. */
const UNITS = ['grapheme-ascii', 'binary'] as const;
const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

/** A client's frame holding `data`, written with `indent`, maybe with members after it. */
function clientFrame(data: unknown, after: Record<string, unknown>, indent: (typeof INDENTS)[number]): string {
  return JSON.stringify({ header: {}, payload: { type: 'relay', id: 'm1', data, ...after } }, null, indent);
}

describe('scanMember', () => {
  for (const unit of UNITS) test(`property (strings of ${unit}): the span jsonMemberSource finds and the depth jsonNestingDepth counts, in one pass`, () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6, stringUnit: unit }), fc.dictionary(fc.string({ unit }), fc.jsonValue({ maxDepth: 3, stringUnit: unit }), { maxKeys: 3 }), fc.constantFrom(...INDENTS), (data, after, indent) => {
        const text = clientFrame(data, after, indent);
        const scan = scanMember(text, PAYLOAD_DATA);
        assert.notEqual(scan, null);
        assert.equal(scan!.depth, jsonNestingDepth(text));
        const member = jsonMemberSource(text, PAYLOAD_DATA);
        if (member === undefined) assert.equal(scan!.start, -1);
        else assert.equal(text.slice(scan!.start, scan!.end), member);
      }),
    );
  });

  test('a repeated key: the last occurrence is the member, and every occurrence counts for the depth', () => {
    const text = '{"payload":{"data":[[[[1]]]],"data":{"n":1}}}';
    const scan = scanMember(text, PAYLOAD_DATA)!;
    assert.equal(text.slice(scan.start, scan.end), '{"n":1}');
    assert.equal(scan.depth, 6);
  });

  test('keys are compared as JSON reads them, whatever their bytes: multi-byte characters, escapes, a text that is not ASCII', () => {
    // "é" is two bytes (C3 A9) that, taken one by one as code units, would spell "Ã©".
    const text = '{"Ã©":1,"é":{"data":"ü"},"\\u00e9x":3}';
    assert.equal(jsonMemberSource(text, ['é', 'data']), '"ü"');
    assert.equal(jsonMemberSource(text, ['Ã©']), '1');
    assert.equal(jsonMemberSource(text, ['éx']), '3');
    const scan = scanMember(text, ['é', 'data'])!;
    assert.equal(text.slice(scan.start, scan.end), '"ü"', 'indexes of the text, not of its bytes');
    const frame = parseFrameText(bytes(`{"payload":{"type":"ü","data":{"t":"€ and 😀"}}}`), { maxDepth: 64, find: PAYLOAD_DATA });
    assert.equal(frame.member(PAYLOAD_DATA, null).text, '{"t":"€ and 😀"}');
    // An escaped backslash in a key as long as the one looked for is not that key.
    assert.equal(jsonMemberSource(String.raw`{"a\b":1,"a\\b":2}`, ['a\\b']), '2');
  });

  test('null for what is not an object that reads to its end: an array, a scalar, a cut text, a broken escaped key', () => {
    for (const text of ['[{"payload":{"data":1}}]', '42', '{"payload":{"data":1}', '{"\\xpayloadxx":1}']) assert.equal(scanMember(text, PAYLOAD_DATA), null, text);
  });
});

describe('parseFrameText with find', () => {
  for (const unit of UNITS) test(`property (strings of ${unit}): the member handed on is the text JSON.parse read there, and equals what is found without find`, () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5, stringUnit: unit }), fc.dictionary(fc.string({ unit }), fc.jsonValue({ maxDepth: 2, stringUnit: unit }), { maxKeys: 2 }), fc.constantFrom(...INDENTS), (data, after, indent) => {
        const text = clientFrame(data, after, indent);
        const found = parseFrameText(bytes(text), { maxDepth: 64, find: PAYLOAD_DATA });
        const plain = parseFrameText(bytes(text), { maxDepth: 64 });
        const value = (found.value as { payload: { data: unknown } }).payload.data;
        const member = found.member(PAYLOAD_DATA, value);
        assert.equal(member.text, plain.member(PAYLOAD_DATA, value).text);
        assert.deepEqual(JSON.parse(member.text), value);
        // What is written for it (its source: the frame's own bytes there) is that text's UTF-8.
        assert.equal(Buffer.from(member.source).toString('utf8'), member.text);
      }),
    );
  });

  test("a multiplex reply: the result found as the frame is read, handed on through the reply's own member", () => {
    const result = '{ "n" : 123456789012345678901234567890, "s": "a\\"}" }';
    const text = `{"id":7,"reply":{"header":{"status":"0","command":{"type":"sendClients","data":["bob"]}},"data":${result}}}`;
    const frame = parseFrameText(bytes(text), { maxDepth: 64, find: REPLY_DATA });
    const replyValue = (frame.value as { reply: Record<string, unknown> }).reply;
    const reply = frame.member(['reply'], replyValue);
    assert.equal(reply.member(['data'], replyValue.data).text, result);
    const source = reply.member(['data'], replyValue.data).source;
    assert.ok(Buffer.isBuffer(source), 'the result is written as the bytes it came as');
    assert.equal(source.toString('utf8'), result);
    // The reply itself and its other members are still sliced from the frame when asked for.
    assert.equal(reply.text, text.slice(text.indexOf('{"header"'), -1));
    assert.equal(reply.member(['header'], replyValue.header).text, '{"status":"0","command":{"type":"sendClients","data":["bob"]}}');
  });

  test('property: refused for its depth exactly when the text nests deeper than the limit', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 2, max: 10 }), (data, limit) => {
        const text = clientFrame(data, {}, undefined);
        const deeper = jsonNestingDepth(text) > limit;
        if (deeper) assert.throws(() => parseFrameText(bytes(text), { maxDepth: limit, find: PAYLOAD_DATA }), { code: 'malformed_json', message: /deeper than/ });
        else parseFrameText(bytes(text), { maxDepth: limit, find: PAYLOAD_DATA });
      }),
    );
  });

  test("a repeated key's earlier, deeper value counts: refused as a frame over 4 KiB is", () => {
    const deep = `${'['.repeat(70)}${']'.repeat(70)}`;
    const text = `{"header":{},"payload":{"type":"t","data":${deep},"data":1}}`;
    assert.throws(() => parseFrameText(bytes(text), { maxDepth: 64, find: PAYLOAD_DATA }), { code: 'malformed_json', message: /deeper than 64/ });
  });

  test('a frame that is no object, or no JSON, is refused as it is without find', () => {
    const deepArray = `${'['.repeat(65)}${']'.repeat(65)}`;
    assert.throws(() => parseFrameText(bytes(deepArray), { maxDepth: 64, find: PAYLOAD_DATA }), { code: 'malformed_json', message: /deeper than 64/ });
    for (const text of ['{"payload":{"data":tru}}', '{"payload":{"data":1}', '{"\\x":1}', '{"payload":{"data":1}} {}']) {
      assert.throws(() => parseFrameText(bytes(text), { maxDepth: 64, find: PAYLOAD_DATA }), { code: 'malformed_json' }, text);
    }
    // An array frame parses, its (absent) member serialised from the value as before.
    const list = parseFrameText(bytes('[1, 2]'), { maxDepth: 64, find: PAYLOAD_DATA });
    assert.deepEqual(list.value, [1, 2]);
  });

  test('a frame without the member: the member is its value serialised', () => {
    const frame = parseFrameText(bytes('{"header":{},"payload":{"type":"t"}}'), { maxDepth: 64, find: PAYLOAD_DATA });
    assert.equal(frame.member(PAYLOAD_DATA, null).text, 'null');
  });
});
