// Framing on every Bester socket: [4-byte little-endian length][UTF-8 JSON text] (docs/protocol.md §1).
// No I/O here: the decoder is fed chunks and pushes frame bodies to a sink.
import { BesterError } from './errors.ts';
import { isUtf8 } from 'node:buffer';
import { Fifo } from './fifo.ts';
import { isJsonBytes } from './json-bytes.ts';
import { jsonMemberSpan, jsonNestingDepth, jsonValueDeeper, scanMember } from './json-scan.ts';
import { JsonData, type JsonSource } from './json-text.ts';

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
  if (slabUsed + most > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const start = slabUsed;
  const length = slab.write(json, start + FRAME_HEADER_BYTES, 'utf8');
  slab.writeUInt32LE(length, start);
  const end = start + FRAME_HEADER_BYTES + length;
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
 * Wraps JSON given in pieces (texts, and the UTF-8 bytes of members passed on as they came:
 * JsonData.source) in one frame. Small bytes are decoded into the text around them; bytes of
 * LAZY_MIN_BYTES or more stay as they are, a piece of the frame each: a member of near a MiB is
 * neither decoded, encoded again nor copied.
 */
export function encodeJsonPieces(pieces: ReadonlyArray<JsonSource>): OutFrame {
  // Texts and small bytes are joined; `out` exists only once a big piece is met (the usual frame has none).
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

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface ParseFrameOptions {
  /**
   * Deepest nesting of objects and arrays accepted (docs/protocol.md §1.3, limits.maxJsonDepth).
   * Checked on the text before JSON.parse, so a hostile frame never becomes a deep object.
   */
  readonly maxDepth?: number;
  /**
   * Members the reader only passes on (a peer's `payload.data`, a handler's result), in the order
   * it looks for them: the first one present, if it is at least `lazyMinBytes` long, is checked to
   * be JSON without being built or decoded and left as bytes (JsonData.withHole; it reads null in
   * shallowValue). Building a value of near a MiB, or even its string, holds the event loop for
   * milliseconds (§1.3).
   */
  readonly lazy?: ReadonlyArray<readonly string[]>;
  /** Shortest member left as bytes (default LAZY_MIN_BYTES); shorter ones are parsed as usual. */
  readonly lazyMinBytes?: number;
  /** A member to pass on as written (JsonData.withMember): found in the pass that reads the depth. */
  readonly find?: readonly string[];
}

/** Members shorter than this are parsed with the rest of their frame (building them is cheap). */
export const LAZY_MIN_BYTES = 64 * 1024;

const NOT_JSON = 'frame is not valid JSON';

/** Frames up to this size have their depth checked on the parsed value (parseFrameText). */
const WALK_DEPTH_MAX_BYTES = 4096;

/**
 * Parses a frame body as strict UTF-8 JSON (docs/protocol.md §1.3).
 * Throws BesterError 'malformed_json' on invalid UTF-8 or JSON text, or nesting over `maxDepth`.
 */
export function parseFrameJson(body: Buffer, options: ParseFrameOptions = {}): unknown {
  return parseFrameText(body, options).value;
}

/**
 * parseFrameJson, keeping the decoded text beside the value (to pass parts of it on unchanged). A
 * frame read with `lazy` whose member is big keeps the frame's bytes instead of a text, and the
 * member as bytes (JsonData.withHole): nothing of it is decoded into a string.
 */
export function parseFrameText(body: Buffer, options: ParseFrameOptions = {}): JsonData {
  const { maxDepth } = options;
  // parseWithHole checks the depth before it can answer null: the text need not be read for it again.
  let depthChecked = false;
  if (options.lazy !== undefined) {
    const minBytes = options.lazyMinBytes ?? LAZY_MIN_BYTES;
    if (body.length >= minBytes) {
      const holed = parseWithHole(withoutBom(body), maxDepth, options.lazy, minBytes);
      if (holed !== null) return holed;
      depthChecked = true;
    }
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (cause) {
    throw new BesterError('malformed_json', NOT_UTF8, { cause });
  }
  // The depth is read from the text before JSON.parse builds anything, so a hostile frame never
  // becomes a deep object: in the pass that finds the member to `find` when there is one, else by
  // itself for a big frame. A small frame read for no member is parsed first and its value walked,
  // four times cheaper than reading its text; it cannot build more than a few thousand levels.
  const bytes = withoutBom(body); // what the scans read (json-scan.ts): UTF-8, as checked above
  const check = maxDepth !== undefined && !depthChecked;
  const scan = options.find === undefined ? null : scanMember(bytes, options.find);
  const walk = check && scan === null && body.length <= WALK_DEPTH_MAX_BYTES;
  if (check && !walk && (scan !== null ? scan.depth : jsonNestingDepth(bytes, maxDepth)) > maxDepth) throw tooDeep(maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (cause) {
    // Named for its depth, as a big frame's would be, when it is (an unfinished deep text).
    if (walk && jsonNestingDepth(bytes, maxDepth) > maxDepth) throw tooDeep(maxDepth);
    throw new BesterError('malformed_json', NOT_JSON, { cause });
  }
  if (walk && jsonValueDeeper(value, maxDepth)) throw tooDeep(maxDepth);
  if (scan === null || scan.start === -1) return new JsonData(value, text);
  // The member's text: a slice of the frame's when it is ASCII (as long as its bytes), else its bytes decoded.
  const member = text.length === bytes.length ? text.slice(scan.start, scan.end) : utf8.decode(bytes.subarray(scan.start, scan.end));
  return JsonData.withMember(value, text, options.find!, member);
}

const NOT_UTF8 = 'frame is not valid UTF-8';

function tooDeep(maxDepth: number): BesterError {
  return new BesterError('malformed_json', `frame nests objects and arrays deeper than ${maxDepth} levels`);
}

/** The frame's bytes without a leading byte order mark (which TextDecoder drops too). */
export function withoutBom(body: Buffer): Buffer {
  return body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? body.subarray(3) : body;
}

/**
 * parseFrameText's `lazy`: the frame (its bytes, no byte order mark) with its first present member
 * of `paths` left as bytes, or null when none is present or long enough. The bytes are checked to
 * be UTF-8 (isUtf8, native) and not too deep; the member is checked with isJsonBytes and the rest
 * with JSON.parse, the member replaced by null: both pass exactly when JSON.parse accepts the whole.
 */
function parseWithHole(body: Buffer, maxDepth: number | undefined, paths: ReadonlyArray<readonly string[]>, minBytes: number): JsonData | null {
  if (!isUtf8(body)) throw new BesterError('malformed_json', NOT_UTF8);
  if (maxDepth !== undefined && jsonNestingDepth(body, maxDepth) > maxDepth) throw tooDeep(maxDepth);
  let span: [number, number] | undefined;
  let path: readonly string[] | undefined;
  try {
    for (path of paths) {
      span = jsonMemberSpan(body, path);
      if (span !== undefined) break;
    }
  } catch {
    return null; // a broken escaped key: the whole-text JSON.parse says so
  }
  if (span === undefined || path === undefined || span[1] - span[0] < minBytes) return null;
  const [start, end] = span;
  if (!isJsonBytes(body, start, end)) throw new BesterError('malformed_json', NOT_JSON);
  let shallow: unknown;
  try {
    shallow = JSON.parse(`${utf8.decode(body.subarray(0, start))}null${utf8.decode(body.subarray(end))}`) as unknown;
  } catch (cause) {
    throw new BesterError('malformed_json', NOT_JSON, { cause });
  }
  return JsonData.withHole(shallow, body, path, body.subarray(start, end));
}
