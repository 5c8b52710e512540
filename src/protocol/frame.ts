// Framing on every Bester socket: [4-byte little-endian length][UTF-8 JSON text] (docs/protocol.md §1).
// No I/O here: the decoder is fed chunks and pushes frame bodies to a sink.
import { BesterError } from './errors.ts';

export const FRAME_HEADER_BYTES = 4;
/** The largest length the 4-byte prefix can hold; the original read it as a signed int. */
export const MAX_FRAME_LENGTH = 0xffff_ffff;

/** Encodes one value as a frame. Throws if the value is not JSON-serialisable. */
export function encodeFrame(value: unknown): Buffer {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('value is not JSON-serialisable');
  return encodeJsonFrame(json);
}

/** Wraps JSON text already serialised in a frame. */
export function encodeJsonFrame(json: string): Buffer {
  const length = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  frame.writeUInt32LE(length, 0);
  frame.write(json, FRAME_HEADER_BYTES, 'utf8');
  return frame;
}

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
  readonly #chunks: Buffer[] = [];
  #buffered = 0;
  /** Body length of the frame being read, or -1 while waiting for a length prefix. */
  #need = -1;
  #stopped = false;

  constructor(sink: FrameSink, maxFrameBytes: number) {
    this.#sink = sink;
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet handed out as frames. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Whether the decoder stopped (after an error or `stop()`). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Ignore all further input (the connection is closing). */
  stop(): void {
    this.#stopped = true;
    this.#chunks.length = 0;
    this.#buffered = 0;
  }

  push(chunk: Buffer): void {
    if (this.#stopped || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (!this.#stopped) {
      if (this.#need < 0) {
        if (this.#buffered < FRAME_HEADER_BYTES) return;
        const length = this.#take(FRAME_HEADER_BYTES).readUInt32LE(0);
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
      if (this.#buffered < this.#need) return;
      const body = this.#take(this.#need);
      this.#need = -1;
      this.#sink.frame(body);
    }
  }

  /** Whether the stream ended in the middle of a frame. */
  get midFrame(): boolean {
    return this.#buffered > 0 || this.#need >= 0;
  }

  #fail(err: BesterError): void {
    this.stop();
    this.#sink.error(err);
  }

  /** Removes exactly n buffered bytes (n <= #buffered) and returns them. */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const head = this.#chunks[0]!;
    if (head.length > n) {
      this.#chunks[0] = head.subarray(n);
      return head.subarray(0, n);
    }
    if (head.length === n) {
      this.#chunks.shift();
      return head;
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const wanted = n - offset;
      if (chunk.length <= wanted) {
        chunk.copy(out, offset);
        offset += chunk.length;
        this.#chunks.shift();
      } else {
        chunk.copy(out, offset, 0, wanted);
        this.#chunks[0] = chunk.subarray(wanted);
        offset += wanted;
      }
    }
    return out;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * How deeply the JSON text in `body` nests objects and arrays (`{}` is 1, `{"a":[1]}` is 2, a
 * scalar 0), read from the bytes alone: brackets inside strings (escapes included) do not count.
 * Stops early and returns `stopAbove + 1` once the depth passes `stopAbove`. Does not validate
 * the JSON; invalid text gets some number and is refused by JSON.parse afterwards.
 * Every byte of a multi-byte UTF-8 sequence is >= 0x80, so no bracket or quote can hide in one.
 */
export function jsonNestingDepth(body: Uint8Array, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]!;
    if (inString) {
      if (byte === BACKSLASH) i++; // the escaped byte (\" or \\) never ends the string
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    }
  }
  return deepest;
}

export interface ParseFrameOptions {
  /**
   * Deepest nesting of objects and arrays accepted (docs/protocol.md §1.3, limits.maxJsonDepth).
   * Checked on the bytes before JSON.parse, so a hostile frame never becomes a deep object.
   */
  readonly maxDepth?: number;
}

/**
 * Parses a frame body as strict UTF-8 JSON (docs/protocol.md §1.3).
 * Throws BesterError 'malformed_json' on invalid UTF-8 or JSON text, or nesting over `maxDepth`.
 */
export function parseFrameJson(body: Buffer, options: ParseFrameOptions = {}): unknown {
  const { maxDepth } = options;
  if (maxDepth !== undefined && jsonNestingDepth(body, maxDepth) > maxDepth) {
    throw new BesterError('malformed_json', `frame nests objects and arrays deeper than ${maxDepth} levels`);
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (cause) {
    throw new BesterError('malformed_json', 'frame is not valid UTF-8', { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new BesterError('malformed_json', 'frame is not valid JSON', { cause });
  }
}
