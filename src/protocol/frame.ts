// Framing on every Bester socket: [4-byte little-endian length][UTF-8 JSON text] (docs/protocol.md §1).
// No I/O here: the decoder is fed chunks and pushes frame bodies to a sink.
import { BesterError } from './errors.ts';
import { Fifo } from './fifo.ts';
import { LAZY_MIN_BYTES } from './frame-parse.ts';
import type { JsonSource } from './json-text.ts';

// Reading a frame's body as JSON lives in frame-parse.ts; its API is this module's too.
export { LAZY_MIN_BYTES, parseFrameJson, parseFrameText, withoutBom, type ParseFrameOptions } from './frame-parse.ts';

export const FRAME_HEADER_BYTES = 4;
/** The largest length the 4-byte prefix can hold; the original read it as a signed int. */
export const MAX_FRAME_LENGTH = 0xffff_ffff;

/** Encodes one value as a frame. Throws if the value is not JSON-serialisable. */
export function encodeFrame(value: unknown): Buffer {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('value is not JSON-serialisable');
  return encodeJsonFrame(json);
}

/**
 * Small frames are written into shared slabs, one after the other, as Buffer.allocUnsafe's pool
 * does: the text is encoded in one pass into room that surely holds it (3 bytes per UTF-16 unit),
 * instead of being measured first (Buffer.byteLength) and then encoded. A slab is never reused:
 * a frame stays valid as long as it is held.
 */
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(0);
let slabUsed = 0;

/** Wraps JSON text already serialised in a frame. */
export function encodeJsonFrame(json: string): Buffer {
  const most = FRAME_HEADER_BYTES + json.length * 3;
  if (most > SLAB_BYTES / 4) {
    const length = Buffer.byteLength(json);
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
    frame.writeUInt32LE(length, 0);
    frame.write(json, FRAME_HEADER_BYTES, 'utf8');
    return frame;
  }
  const start = slabRoom(most);
  return slabFrame(start, start + FRAME_HEADER_BYTES + slab.write(json, start + FRAME_HEADER_BYTES, 'utf8'));
}

/** Where a frame of at most `most` bytes starts in the slab (a fresh slab when the current one lacks the room). */
function slabRoom(most: number): number {
  if (slabUsed + most > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  return slabUsed;
}

/** The frame written into the slab at [start, end): its length prefixed, the slab's room taken. */
function slabFrame(start: number, end: number): Buffer {
  slab.writeUInt32LE(end - start - FRAME_HEADER_BYTES, start);
  slabUsed = (end + 7) & ~7; // the next frame 8-byte aligned, as the pool does
  return slab.subarray(start, end);
}

/**
 * A frame to write: one buffer, or its pieces in order (encodeJsonPieces: a big member's bytes
 * passed on as they came, not copied into one buffer). Streams take the pieces with one writev.
 */
export type OutFrame = Buffer | readonly Buffer[];

/** The bytes of a frame to write (all its pieces). */
export function frameLength(frame: OutFrame): number {
  if (!Array.isArray(frame)) return (frame as Buffer).length;
  let length = 0;
  for (const piece of frame as readonly Buffer[]) length += piece.length;
  return length;
}

/**
 * Wraps JSON given in pieces (texts, and the UTF-8 bytes of fixed parts encoded once and of members
 * passed on as they came: JsonData.source) in one frame. A small frame's pieces are written one
 * after the other into a slab (encodeJsonFrame's): texts encoded, bytes copied, never joined into
 * one string first (a joined string must be flattened before it is written). In a big frame, bytes
 * of LAZY_MIN_BYTES or more stay as they are, a piece of the frame each: a member of near a MiB is
 * neither decoded, encoded again nor copied.
 */
export function encodeJsonPieces(pieces: ReadonlyArray<JsonSource>): OutFrame {
  let most = FRAME_HEADER_BYTES;
  for (const piece of pieces) most += typeof piece === 'string' ? piece.length * 3 : piece.length;
  if (most > SLAB_BYTES / 4) return encodeBigPieces(pieces);
  const start = slabRoom(most);
  let end = start + FRAME_HEADER_BYTES;
  for (const piece of pieces) {
    if (typeof piece === 'string') end += slab.write(piece, end, 'utf8');
    else {
      slab.set(piece, end);
      end += piece.length;
    }
  }
  return slabFrame(start, end);
}

/** encodeJsonPieces for a frame too big for a slab: texts and small bytes joined, big bytes kept as pieces. */
function encodeBigPieces(pieces: ReadonlyArray<JsonSource>): OutFrame {
  // `out` exists only once a big piece is met.
  let out: Buffer[] | null = null;
  let text = '';
  for (const piece of pieces) {
    if (typeof piece === 'string') text += piece;
    else if (piece.length < LAZY_MIN_BYTES) text += piece.toString('utf8');
    else {
      out ??= [Buffer.allocUnsafe(FRAME_HEADER_BYTES)];
      if (text !== '') out.push(Buffer.from(text, 'utf8'));
      text = '';
      out.push(piece);
    }
  }
  if (out === null) return encodeJsonFrame(text);
  if (text !== '') out.push(Buffer.from(text, 'utf8'));
  out[0]!.writeUInt32LE(frameLength(out) - FRAME_HEADER_BYTES, 0);
  return out;
}

/** Frames from this size on that span several reads are filled as their chunks arrive (FrameDecoder). */
const ASSEMBLE_BYTES = 64 * 1024;

export interface FrameSink {
  /** One complete frame body. The buffer may be a view into a received chunk: copy it to keep it. */
  frame(body: Buffer): void;
  /** The stream is unusable from here on (oversize or empty frame); no more frames follow. */
  error(err: BesterError): void;
}

/**
 * Incremental frame decoder. Chunks may split frames anywhere or hold many frames.
 * The declared length is checked against `maxFrameBytes` as soon as the prefix is complete,
 * before any of the body is buffered (docs/protocol.md §1.2). Chunks are kept in a list and
 * copied once into a body only when a frame spans several of them.
 */
export class FrameDecoder {
  /** May be changed between frames, e.g. raised after login. */
  maxFrameBytes: number;
  readonly #sink: FrameSink;
  /** A Fifo, not an array: one chunk pushed and dropped per read would regrow an array's store each time. */
  readonly #chunks = new Fifo<Buffer>();
  /** Bytes at the start of the first chunk already handed out (read past by index, not cut off with a new view). */
  #offset = 0;
  /** Bytes in #chunks not handed out yet. */
  #buffered = 0;
  /** Body length of the frame being read, or -1 while waiting for a length prefix. */
  #need = -1;
  /** A big frame's body, filled as its chunks arrive (ASSEMBLE_BYTES); #filled bytes of it so far. */
  #body: Buffer | null = null;
  #filled = 0;
  #stopped = false;

  constructor(sink: FrameSink, maxFrameBytes: number) {
    this.#sink = sink;
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet handed out as frames. */
  get bufferedBytes(): number {
    return this.#buffered + this.#filled;
  }

  /** Whether the decoder stopped (after an error or `stop()`). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Ignore all further input (the connection is closing). */
  stop(): void {
    this.#stopped = true;
    this.#chunks.clear();
    this.#offset = 0;
    this.#buffered = 0;
    this.#body = null;
    this.#filled = 0;
  }

  push(chunk: Buffer): void {
    if (this.#stopped || chunk.length === 0) return;
    if (this.#body !== null) {
      const body = this.#body;
      const n = Math.min(chunk.length, body.length - this.#filled);
      chunk.copy(body, this.#filled, 0, n);
      this.#filled += n;
      if (this.#filled < body.length) return;
      this.#body = null;
      this.#filled = 0;
      this.#need = -1;
      this.#sink.frame(body);
      if (n === chunk.length || this.#stopped) return;
      chunk = chunk.subarray(n);
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (!this.#stopped) {
      if (this.#need < 0) {
        if (this.#buffered < FRAME_HEADER_BYTES) return;
        const length = this.#takeLength();
        if (length === 0) {
          this.#fail(new BesterError('malformed_frame', 'zero-length frame'));
          return;
        }
        if (length > this.maxFrameBytes) {
          this.#fail(
            new BesterError(
              'frame_too_large',
              `frame of ${length} bytes is over the limit of ${this.maxFrameBytes} bytes`,
            ),
          );
          return;
        }
        this.#need = length;
      }
      if (this.#buffered < this.#need) {
        // A big frame is copied into its body as its chunks arrive, not all at once at its end: the
        // page faults of a fresh MiB (milliseconds) are spread over the reads (docs/federation.md §9).
        // Only once half of it is here: a length prefix alone never makes the decoder take memory.
        if (this.#need >= ASSEMBLE_BYTES && this.#buffered * 2 >= this.#need) {
          this.#body = Buffer.allocUnsafe(this.#need);
          this.#filled = this.#buffered;
          this.#copyBuffered(this.#body);
        }
        return;
      }
      const body = this.#take(this.#need);
      this.#need = -1;
      this.#sink.frame(body);
    }
  }

  /** Whether the stream ended in the middle of a frame. */
  get midFrame(): boolean {
    return this.#buffered > 0 || this.#need >= 0;
  }

  /** Moves every buffered byte to the start of `out`. */
  #copyBuffered(out: Buffer): void {
    let offset = 0;
    for (let i = 0; i < this.#chunks.length; i++) offset += this.#chunks.at(i)!.copy(out, offset, i === 0 ? this.#offset : 0);
    this.#chunks.clear();
    this.#offset = 0;
    this.#buffered = 0;
  }

  #fail(err: BesterError): void {
    this.stop();
    this.#sink.error(err);
  }

  /**
   * Removes a frame's length prefix (#buffered >= FRAME_HEADER_BYTES) and returns it. Read in place
   * when the first chunk holds it (the usual case: no view made for four bytes).
   */
  #takeLength(): number {
    const head = this.#chunks.at(0)!;
    const at = this.#offset;
    if (head.length - at < FRAME_HEADER_BYTES) return this.#take(FRAME_HEADER_BYTES).readUInt32LE(0);
    this.#buffered -= FRAME_HEADER_BYTES;
    this.#advance(head, at + FRAME_HEADER_BYTES);
    return head.readUInt32LE(at);
  }

  /** The first chunk was read up to `to`: dropped when all of it was. */
  #advance(head: Buffer, to: number): void {
    if (to < head.length) {
      this.#offset = to;
      return;
    }
    this.#chunks.shift();
    this.#offset = 0;
  }

  /** Removes exactly n buffered bytes (n <= #buffered) and returns them: a view when one chunk holds them, else a copy. */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const head = this.#chunks.at(0)!;
    const at = this.#offset;
    if (head.length - at >= n) {
      this.#advance(head, at + n);
      return at === 0 && n === head.length ? head : head.subarray(at, at + n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks.at(0)!;
      const from = this.#offset;
      const wanted = n - offset;
      if (chunk.length - from <= wanted) {
        offset += chunk.copy(out, offset, from);
        this.#chunks.shift();
        this.#offset = 0;
      } else {
        chunk.copy(out, offset, from, from + wanted);
        this.#offset = from + wanted;
        offset += wanted;
      }
    }
    return out;
  }
}
