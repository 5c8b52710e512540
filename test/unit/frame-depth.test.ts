// The JSON depth limit read from a frame's text (docs/protocol.md §1.3), and more properties of
// the frame decoder (§1.2, §1.4): lengths around the limit, random streams, bounded buffering.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { BesterError } from '../../src/protocol/errors.ts';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import { jsonNestingDepth, jsonValueDeeper } from '../../src/protocol/json-scan.ts';

function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children: unknown[] = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depthOf(child)), 0);
}

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('jsonNestingDepth', () => {
  test('counts objects and arrays, not scalars', () => {
    assert.equal(jsonNestingDepth('1'), 0);
    assert.equal(jsonNestingDepth('"x"'), 0);
    assert.equal(jsonNestingDepth('{}'), 1);
    assert.equal(jsonNestingDepth('{"a": [1]}'), 2);
    assert.equal(jsonNestingDepth('[[], [[]], {}]'), 3);
  });

  test('brackets inside strings, escaped quotes and backslashes do not count', () => {
    assert.equal(jsonNestingDepth('["[[[{{{"]'), 1);
    assert.equal(jsonNestingDepth(String.raw`["\"[[[", "\\", [1]]`), 2);
    assert.equal(jsonNestingDepth(String.raw`{"k\\": "[", "v": "\\\"{"}`), 1);
    assert.equal(jsonNestingDepth('["é[✓{", ["𝄞"]]'), 2);
  });

  test('stops early once past the limit', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    assert.equal(jsonNestingDepth(deep), 100_000);
    assert.equal(jsonNestingDepth(deep, 64), 65);
  });

  test('property: equals the depth of the parsed value, compact or indented', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const expected = depthOf(value);
        assert.equal(jsonNestingDepth(JSON.stringify(value)), expected);
        assert.equal(jsonNestingDepth(JSON.stringify(value, null, 2)), expected);
      }),
      { numRuns: 500 },
    );
  });

  test('property: strings full of brackets, quotes and backslashes never add depth', () => {
    const tricky = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', 'é', '\u0000') });
    fc.assert(
      fc.property(fc.array(tricky, { maxLength: 6 }), fc.integer({ min: 0, max: 20 }), (strings, extra) => {
        const value = strings.reduce<unknown>((inner, s) => ({ [s]: [s, inner] }), null);
        let text = JSON.stringify(value);
        text = `${'['.repeat(extra)}${text}${']'.repeat(extra)}`;
        assert.equal(jsonNestingDepth(text), depthOf(JSON.parse(text)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('jsonValueDeeper', () => {
  test('property: agrees with the text reader at every limit (small frames are checked on their value)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 9 }), (value, limit) => {
        assert.equal(jsonValueDeeper(value, limit), jsonNestingDepth(JSON.stringify(value)) > limit);
      }),
      { numRuns: 500 },
    );
  });

  test('stops at the limit: a value nested a hundred thousand levels is read 65 levels down', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown;
    assert.equal(jsonValueDeeper(deep, 64), true);
    assert.equal(jsonValueDeeper([[[]], {}], 3), false);
    assert.equal(jsonValueDeeper([[[]], {}], 2), true);
  });
});

describe('parseFrameJson with maxDepth', () => {
  test('at the limit parses; one deeper is malformed_json naming the limit, before JSON.parse', () => {
    const at = bytes(`${'['.repeat(64)}${']'.repeat(64)}`);
    assert.equal(depthOf(parseFrameJson(at, { maxDepth: 64 })), 64);
    const over = bytes(`${'['.repeat(65)}${']'.repeat(65)}`);
    assert.throws(() => parseFrameJson(over, { maxDepth: 64 }), { code: 'malformed_json', message: /deeper than 64 levels/ });
    // Depth is checked first: a deep prefix of an unfinished text is refused for its depth.
    assert.throws(() => parseFrameJson(bytes('['.repeat(1000)), { maxDepth: 64 }), { message: /deeper than 64/ });
  });

  test('a million brackets are refused quickly', () => {
    const huge = Buffer.alloc(1_000_000, '[');
    const started = performance.now();
    assert.throws(() => parseFrameJson(huge, { maxDepth: 64 }), { code: 'malformed_json' });
    assert.ok(performance.now() - started < 200);
  });
});

function frameOf(body: Uint8Array): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(body.length, 0);
  return Buffer.concat([prefix, body]);
}

/** Pushes `stream` in pieces cut at `cuts` (positions, any order, out of range wrapped). */
function pushCut(decoder: FrameDecoder, stream: Buffer, cuts: readonly number[], after?: () => void): void {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let last = 0;
  for (const p of [...points, stream.length]) {
    decoder.push(stream.subarray(last, p));
    last = p;
    after?.();
  }
}

describe('FrameDecoder properties', () => {
  test('property: declared lengths around the limit: accepted up to it, refused past it before any body byte', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2048 }),
        fc.integer({ min: -3, max: 3 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (limit, delta, cuts) => {
          const length = Math.max(1, limit + delta);
          const body = Buffer.alloc(length, 0x61);
          const frames: Buffer[] = [];
          const errors: BesterError[] = [];
          const decoder = new FrameDecoder({ frame: (b) => frames.push(Buffer.from(b)), error: (e) => errors.push(e) }, limit);
          const stream = frameOf(body);
          if (length > limit) {
            decoder.push(stream.subarray(0, 4));
            assert.deepEqual(errors.map((e) => e.code), ['frame_too_large']);
            assert.equal(decoder.bufferedBytes, 0);
            decoder.push(stream.subarray(4));
            assert.equal(frames.length, 0);
            assert.equal(decoder.bufferedBytes, 0);
          } else {
            pushCut(decoder, stream, cuts);
            assert.equal(errors.length, 0);
            assert.deepEqual(frames, [body]);
            assert.equal(decoder.midFrame, false);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  test('property: random bodies cut anywhere: every frame decoded exactly once, in order; buffering stays under the limit', () => {
    const LIMIT = 300;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: LIMIT }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (bodies, cuts) => {
          const frames: Buffer[] = [];
          const errors: BesterError[] = [];
          const decoder = new FrameDecoder({ frame: (b) => frames.push(Buffer.from(b)), error: (e) => errors.push(e) }, LIMIT);
          const stream = Buffer.concat(bodies.map(frameOf));
          // Whatever the chunks, only the frame being read is held: under one frame plus a prefix.
          pushCut(decoder, stream, cuts, () => assert.ok(decoder.bufferedBytes < LIMIT + 4, `buffered ${decoder.bufferedBytes}`));
          assert.equal(errors.length, 0);
          assert.deepEqual(frames, bodies.map((b) => Buffer.from(b)));
          assert.equal(decoder.bufferedBytes, 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: valid frames then garbage: the valid ones exactly once, then at most one error and nothing after it', () => {
    const LIMIT = 64;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: LIMIT }), { maxLength: 5 }),
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (bodies, garbage, cuts) => {
          const frames: Buffer[] = [];
          const errors: BesterError[] = [];
          const decoder = new FrameDecoder({ frame: (b) => frames.push(Buffer.from(b)), error: (e) => errors.push(e) }, LIMIT);
          const valid = Buffer.concat(bodies.map(frameOf));
          pushCut(decoder, Buffer.concat([valid, garbage]), cuts, () => assert.ok(decoder.bufferedBytes < LIMIT + 4));
          assert.deepEqual(frames.slice(0, bodies.length), bodies.map((b) => Buffer.from(b)));
          assert.ok(errors.length <= 1);
          if (errors.length === 1) {
            assert.ok(['frame_too_large', 'malformed_frame'].includes(errors[0]!.code));
            assert.equal(decoder.bufferedBytes, 0);
          }
          // Garbage may itself parse as frames, but the decoder never yields more bytes than it got.
          const out = frames.reduce((n, f) => n + f.length + 4, 0);
          assert.ok(out <= valid.length + garbage.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: JSON frames round-trip through encodeFrame, the decoder and parseFrameJson with the depth limit', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 6 }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (values, cuts) => {
        const parsed: unknown[] = [];
        const decoder = new FrameDecoder({ frame: (b) => parsed.push(parseFrameJson(b, { maxDepth: 64 })), error: assert.fail }, 1 << 20);
        pushCut(decoder, Buffer.concat(values.map((v) => encodeFrame(v))), cuts);
        assert.deepEqual(parsed, values.map((v) => JSON.parse(JSON.stringify(v)) as unknown));
      }),
      { numRuns: 200 },
    );
  });
});
