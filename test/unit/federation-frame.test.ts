// A peer's link frame read with its own text (docs/federation.md §3.3): the MAC is checked over the
// payload's text as it came, the message's data keeps its text slice and is not serialised again.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { open, payloadDigest, payloadDigestAsync, readPeerMessage, ReplayCache, seal } from '../../src/protocol/federation.ts';
import { withoutBom } from '../../src/protocol/frame.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { JsonData } from '../../src/protocol/json-text.ts';

const SECRET = 'unit-test-secret-0123456789';

function sealed(payload: JsonObject): { frame: unknown; text: string } {
  const frame = seal(SECRET, 'a', 'b', payload);
  const text = JSON.stringify(frame);
  return { frame: JSON.parse(text) as unknown, text };
}

function opening(frame: unknown, text?: string): ReturnType<typeof open> {
  return open(frame, { secret: SECRET, self: 'b', peer: 'a', replay: new ReplayCache() }, text);
}

const payload = { type: 'M1', id: 'm-1', data: { blob: 'x'.repeat(1000), n: [1, 2, { deep: 'é"\\' }] }, origin: 'a', seq: 3, hops: 1, sender: 'alice' };

describe('a peer frame read with its text', () => {
  test('the MAC is checked over the payload text in the frame; the opened text is that slice', () => {
    const { frame, text } = sealed(payload);
    const opened = opening(frame, text);
    assert.ok(opened.ok);
    assert.equal(opened.text, JSON.stringify(payload));
    assert.ok(text.includes(opened.text));
  });

  test("with the frame's bytes (a byte order mark and non-ASCII text too), the MAC and the fingerprint are read from them", () => {
    const { frame, text } = sealed(payload);
    for (const body of [Buffer.from(text), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])]) {
      const opened = open(frame, { secret: SECRET, self: 'b', peer: 'a', replay: new ReplayCache() }, withoutBom(body));
      assert.ok(opened.ok);
      assert.ok(Buffer.isBuffer(opened.text), 'the payload is a view of the bytes, not a decoded text');
      assert.equal(opened.text.toString(), JSON.stringify(payload));
      assert.equal(opened.digest, payloadDigest(opened.text));
    }
    // Bytes that are not the frame's are not taken for it: the MAC fails over them.
    const other = Buffer.from(text.replace('alice', 'alicf'));
    assert.equal(open(frame, { secret: SECRET, self: 'b', peer: 'a', replay: new ReplayCache() }, other).ok, false);
  });

  test('a frame written with other spacing is still accepted: its MAC is checked over the payload serialised again', () => {
    const { frame } = sealed(payload);
    const spaced = JSON.stringify(frame, null, 2);
    const opened = opening(JSON.parse(spaced) as unknown, spaced);
    assert.ok(opened.ok);
    assert.equal(opened.text, JSON.stringify(payload));
  });

  test('an altered payload is refused, with or without the text', () => {
    const { text } = sealed(payload);
    const altered = text.replace('"seq":3', '"seq":4');
    assert.notEqual(altered, text);
    for (const given of [altered, undefined]) {
      const opened = opening(JSON.parse(altered) as unknown, given);
      assert.equal(opened.ok, false);
      assert.match(opened.ok ? '' : opened.reason, /bad MAC/);
    }
  });

  test("the message's data keeps its own text from the frame; its value is parsed from it when asked for", () => {
    const { frame, text } = sealed(payload);
    const opened = opening(frame, text);
    assert.ok(opened.ok);
    const message = readPeerMessage(opened.payload, opened.text);
    assert.ok(message !== null);
    assert.ok(message.data.hasText);
    assert.equal(message.data.text, JSON.stringify(payload.data));
    assert.deepEqual(message.data.value, payload.data);
    // Without the text (or without data) it is the parsed value, serialised on demand.
    const plain = readPeerMessage(opened.payload);
    assert.ok(plain !== null && !plain.data.hasText);
    assert.deepEqual(plain.data.value, payload.data);
    const none = readPeerMessage({ ...payload, data: undefined }, '{}');
    assert.ok(none !== null);
    assert.equal(none.data.value, null);
    assert.equal(none.data.text, 'null');
  });

  test('JsonData.ofSource parses its value once, on first use', () => {
    const data = JsonData.ofSource('{"a":[1,2]}');
    assert.ok(data.hasText);
    const value = data.value;
    assert.deepEqual(value, { a: [1, 2] });
    assert.equal(data.value, value, 'parsed once');
    assert.equal(data.text, '{"a":[1,2]}');
    assert.deepEqual(data.member(['a'], [1, 2]).text, '[1,2]');
  });

  test('a fingerprint taken off the event loop is the same as one taken at once, for any size and any text', async () => {
    for (const text of ['{}', JSON.stringify({ blob: 'é€😀"\\'.repeat(30_000) }), JSON.stringify({ blob: 'x'.repeat(1_000_000) })]) {
      assert.equal(await payloadDigestAsync(text), payloadDigest(text));
    }
  });
});
