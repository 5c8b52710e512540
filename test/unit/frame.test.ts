import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { BesterError } from '../../src/protocol/errors.ts';
import { encodeFrame, encodeJsonFrame, encodeJsonPieces, FrameDecoder, LAZY_MIN_BYTES, parseFrameJson, type OutFrame } from '../../src/protocol/frame.ts';

function collect(max = 1 << 20): { decoder: FrameDecoder; frames: unknown[]; errors: BesterError[] } {
  const frames: unknown[] = [];
  const errors: BesterError[] = [];
  const decoder = new FrameDecoder({ frame: (b) => frames.push(parseFrameJson(b)), error: (e) => errors.push(e) }, max);
  return { decoder, frames, errors };
}

/** The frames of `items` fed to a decoder in chunks cut at `cuts` (modulo the length). */
function decodeCut(items: unknown[], cuts: number[]): ReturnType<typeof collect> {
  const bytes = Buffer.concat(items.map((v) => encodeFrame(v)));
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const collected = collect();
  let last = 0;
  for (const p of [...points, bytes.length]) {
    collected.decoder.push(bytes.subarray(last, p));
    last = p;
  }
  return collected;
}

describe('frame encoding', () => {
  test('4-byte little-endian length then UTF-8 JSON', () => {
    const frame = encodeFrame({ a: 'é' });
    const json = Buffer.from('{"a":"é"}', 'utf8');
    assert.equal(frame.readUInt32LE(0), json.length);
    assert.deepEqual(frame.subarray(4), json);
  });
});

describe('encodeJsonFrame', () => {
  test('property: every frame holds its own text, however many frames were encoded after it (slabs are never reused)', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'é', '✓', '𝄞', '"', '\\'), maxLength: 7000 }).map((s) => JSON.stringify(s));
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 60 }), (texts) => {
        const frames = texts.map((t) => encodeJsonFrame(t));
        for (let i = 0; i < 300; i++) encodeJsonFrame(JSON.stringify('x'.repeat(i * 7))); // fills and replaces slabs
        texts.forEach((t, i) => {
          const frame = frames[i]!;
          assert.equal(frame.readUInt32LE(0), Buffer.byteLength(t));
          assert.equal(frame.length, 4 + Buffer.byteLength(t));
          assert.equal(frame.toString('utf8', 4), t);
        });
      }),
      { numRuns: 100 },
    );
  });
});

/** All the bytes of a frame to write (one buffer, or its pieces). */
function frameBytes(frame: OutFrame): Buffer {
  return Buffer.isBuffer(frame) ? frame : Buffer.concat(frame);
}

describe('encodeJsonPieces', () => {
  // A piece is a text or the UTF-8 bytes of one; the frame must hold their texts in order,
  // whatever the mix: small frames are written piece by piece into slabs, big ones joined.
  const piece = fc
    .tuple(fc.string({ unit: fc.constantFrom('a', 'é', '✓', '𝄞', '"', '\\', '\u0000'), maxLength: 3000 }), fc.boolean(), fc.nat({ max: 20 }))
    .map(([text, asBytes, big]) => {
      // Now and then a piece of LAZY_MIN_BYTES or more: it stays a piece of its own when it is bytes.
      const full = big === 0 ? text + 'z'.repeat(LAZY_MIN_BYTES) : text;
      return asBytes ? Buffer.from(full, 'utf8') : full;
    });

  test('property: the frame holds the pieces\' texts in order, and keeps them however many frames follow', () => {
    fc.assert(
      fc.property(fc.array(fc.array(piece, { maxLength: 6 }), { minLength: 1, maxLength: 20 }), (framesPieces) => {
        const frames = framesPieces.map((pieces) => encodeJsonPieces(pieces));
        for (let i = 0; i < 300; i++) encodeJsonPieces([Buffer.from('"'), 'x'.repeat(i * 7), Buffer.from('"')]); // fills and replaces slabs
        framesPieces.forEach((pieces, i) => {
          const text = pieces.map((p) => (typeof p === 'string' ? p : p.toString('utf8'))).join('');
          const bytes = frameBytes(frames[i]!);
          assert.equal(bytes.readUInt32LE(0), Buffer.byteLength(text));
          assert.equal(bytes.length, 4 + Buffer.byteLength(text));
          assert.equal(bytes.toString('utf8', 4), text);
        });
      }),
      { numRuns: 60 },
    );
  });

  test('big bytes are written as they are, not copied; small ones are copied into the frame', () => {
    const big = Buffer.from(`"${'b'.repeat(LAZY_MIN_BYTES)}"`, 'utf8');
    const frame = encodeJsonPieces(['[', big, ',', Buffer.from('"é"', 'utf8'), ']']);
    assert.ok(Array.isArray(frame), 'a frame with a big piece is written in pieces');
    assert.ok((frame as readonly Buffer[]).includes(big));
    const small = Buffer.from('"é"', 'utf8');
    const one = encodeJsonPieces(['[', small, ']']);
    assert.ok(Buffer.isBuffer(one));
    small.fill(0x20); // the frame holds its own copy
    assert.equal(frameBytes(one).toString('utf8', 4), '["é"]');
  });
});

describe('FrameDecoder', () => {
  const values = [{ header: {}, payload: { type: 't', id: '1', data: [1, 2, 3] } }, 'text', 42, { nested: { é: '✓' } }];
  const stream = Buffer.concat(values.map((v) => encodeFrame(v)));

  test('decodes a stream cut at every offset into two chunks', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { decoder, frames, errors } = collect();
      decoder.push(stream.subarray(0, cut));
      decoder.push(stream.subarray(cut));
      assert.deepEqual(frames, values, `cut at ${cut}`);
      assert.equal(errors.length, 0);
    }
  });

  test('decodes a stream fed byte by byte', () => {
    const { decoder, frames } = collect();
    for (let i = 0; i < stream.length; i++) decoder.push(stream.subarray(i, i + 1));
    assert.deepEqual(frames, values);
    assert.equal(decoder.midFrame, false);
  });

  test('decodes many frames in one chunk', () => {
    const { decoder, frames } = collect();
    decoder.push(Buffer.concat([stream, stream, stream]));
    assert.deepEqual(frames, [...values, ...values, ...values]);
  });

  test('refuses an oversize frame from its length prefix alone', () => {
    const { decoder, frames, errors } = collect(100);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(101, 0);
    decoder.push(prefix);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'frame_too_large');
    assert.equal(decoder.bufferedBytes, 0);
    decoder.push(Buffer.alloc(200, 0x20));
    assert.equal(frames.length, 0, 'nothing decoded after the error');
    assert.equal(decoder.bufferedBytes, 0, 'nothing buffered after the error');
  });

  test('a length of exactly the limit is accepted', () => {
    const { decoder, frames } = collect(10);
    const body = '"12345678"';
    decoder.push(encodeFrame('12345678'));
    assert.equal(Buffer.byteLength(body), 10);
    assert.deepEqual(frames, ['12345678']);
  });

  test('a length with the top bit set (negative for the original) is oversize, not negative', () => {
    const { decoder, errors } = collect();
    decoder.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    assert.equal(errors[0]?.code, 'frame_too_large');
  });

  test('a zero-length frame is malformed', () => {
    const { decoder, errors } = collect();
    decoder.push(Buffer.from([0, 0, 0, 0]));
    assert.equal(errors[0]?.code, 'malformed_frame');
  });

  test('the limit can be raised between frames (after login)', () => {
    const { decoder, frames, errors } = collect(8);
    decoder.push(encodeFrame(1));
    decoder.maxFrameBytes = 1000;
    decoder.push(encodeFrame('a much longer frame than eight bytes'));
    assert.equal(errors.length, 0);
    assert.equal(frames.length, 2);
  });

  test('property: any values cut anywhere decode exactly once, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (items, cuts) => {
          const { frames, errors } = decodeCut(items, cuts);
          assert.equal(errors.length, 0);
          // JSON round trip: -0 becomes 0, which is what any peer would read too.
          assert.deepEqual(frames, items.map((v) => JSON.parse(JSON.stringify(v)) as unknown));
        },
      ),
      { numRuns: 200 },
    );
  });

  test('property: big frames (filled as their chunks arrive) between small ones, cut anywhere, decode exactly once, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.integer({ min: 64 * 1024, max: 200_000 }).map((n) => 'x'.repeat(n))), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (items, cuts) => {
          const { decoder, frames, errors } = decodeCut(items, cuts);
          assert.equal(errors.length, 0);
          assert.equal(decoder.bufferedBytes, 0);
          assert.deepEqual(frames, items);
        },
      ),
      { numRuns: 100 },
    );
  });

  test('a big length prefix alone takes no memory: the body is allocated once half of it has arrived', () => {
    const header = Buffer.alloc(4);
    header.writeUInt32LE(1 << 20, 0);
    const decoders = Array.from({ length: 200 }, () => collect(2 << 20));
    const before = process.memoryUsage().arrayBuffers;
    for (const { decoder } of decoders) decoder.push(Buffer.concat([header, Buffer.alloc(100_000, 0x20)]));
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 50 << 20, `200 frames declared at 1 MiB took ${grown} bytes before they were half sent`);
    for (const { decoder } of decoders) decoder.stop();
    // Past half, the body is filled as the rest arrives, and the frame comes out whole.
    const body = Buffer.from(JSON.stringify('x'.repeat((1 << 20) - 2)));
    const { decoder, frames, errors } = collect(2 << 20);
    decoder.push(header);
    for (let at = 0; at < body.length; at += 65_536) decoder.push(body.subarray(at, at + 65_536));
    assert.equal(errors.length, 0);
    assert.deepEqual(frames, [JSON.parse(body.toString()) as unknown]);
  });

  test('property: random bytes never throw and never buffer past the limit plus one chunk', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const errors: BesterError[] = [];
        const decoder = new FrameDecoder({ frame: () => undefined, error: (e) => errors.push(e) }, 256);
        for (const c of chunks) {
          decoder.push(Buffer.from(c));
          assert.ok(decoder.bufferedBytes <= 256 + 4 + 64);
        }
        assert.ok(errors.length <= 1);
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseFrameJson', () => {
  test('invalid UTF-8 is refused', () => {
    assert.throws(() => parseFrameJson(Buffer.from([0x22, 0xc3, 0x28, 0x22])), { code: 'malformed_json' });
  });
  test('invalid JSON is refused', () => {
    assert.throws(() => parseFrameJson(Buffer.from('{"a":')), { code: 'malformed_json' });
  });
  test('__proto__ keys stay plain data', () => {
    const value = parseFrameJson(Buffer.from('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.ok(Object.hasOwn(value, '__proto__'));
  });
});
