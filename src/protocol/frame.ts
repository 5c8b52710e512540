// Framing on every Bester socket: [4-byte little-endian length][UTF-8 JSON text] (docs/protocol.md §1).
// No I/O here: the decoder is fed chunks and pushes frame bodies to a sink.
import { BesterError } from './errors.ts';
import { isJsonText, jsonMemberSpan, jsonNestingDepth, JsonData } from './json-text.ts';


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

export interface ParseFrameOptions {
  /**
   * Deepest nesting of objects and arrays accepted (docs/protocol.md §1.3, limits.maxJsonDepth).
   * Checked on the text before JSON.parse, so a hostile frame never becomes a deep object.
   */
  readonly maxDepth?: number;
  /**
   * Members the reader only passes on as text (a peer's `payload.data`, a handler's result), in the
   * order it looks for them: the first one present, if it is at least `lazyMinChars` long, is checked
   * to be JSON without being built and left as text (JsonData.withHole; it reads null in
   * shallowValue). Building a value of near a MiB holds the event loop for milliseconds (§1.3).
   */
  readonly lazy?: ReadonlyArray<readonly string[]>;
  /** Shortest member left as text (default LAZY_MIN_CHARS); shorter ones are parsed as usual. */
  readonly lazyMinChars?: number;
}

/** Members shorter than this are parsed with the rest of their frame (building them is cheap). */
export const LAZY_MIN_CHARS = 64 * 1024;

const NOT_JSON = 'frame is not valid JSON';

/**
 * Parses a frame body as strict UTF-8 JSON (docs/protocol.md §1.3).
 * Throws BesterError 'malformed_json' on invalid UTF-8 or JSON text, or nesting over `maxDepth`.
 */
export function parseFrameJson(body: Buffer, options: ParseFrameOptions = {}): unknown {
  return parseFrameText(body, options).value;
}

/** parseFrameJson, keeping the decoded text beside the value (to pass parts of it on unchanged). */
export function parseFrameText(body: Buffer, options: ParseFrameOptions = {}): JsonData {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (cause) {
    throw new BesterError('malformed_json', 'frame is not valid UTF-8', { cause });
  }
  const { maxDepth } = options;
  // Read from the text before JSON.parse builds anything: a hostile frame never becomes a deep object.
  if (maxDepth !== undefined && jsonNestingDepth(text, maxDepth) > maxDepth) {
    throw new BesterError('malformed_json', `frame nests objects and arrays deeper than ${maxDepth} levels`);
  }
  if (options.lazy !== undefined) {
    const holed = parseWithHole(text, options.lazy, options.lazyMinChars ?? LAZY_MIN_CHARS);
    if (holed !== null) return holed;
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (cause) {
    throw new BesterError('malformed_json', NOT_JSON, { cause });
  }
  return new JsonData(value, text);
}

/**
 * parseFrameText's `lazy`: the text with its first present member of `paths` left as text, or null
 * when none is present or long enough. The member is checked with isJsonText and the rest with
 * JSON.parse, the member replaced by null: both pass exactly when JSON.parse accepts the whole text.
 */
function parseWithHole(text: string, paths: ReadonlyArray<readonly string[]>, minChars: number): JsonData | null {
  if (text.length < minChars) return null;
  let span: [number, number] | undefined;
  let path: readonly string[] | undefined;
  try {
    for (path of paths) {
      span = jsonMemberSpan(text, path);
      if (span !== undefined) break;
    }
  } catch {
    return null; // a broken escaped key: the whole-text JSON.parse says so
  }
  if (span === undefined || path === undefined || span[1] - span[0] < minChars) return null;
  const [start, end] = span;
  if (!isJsonText(text, start, end)) throw new BesterError('malformed_json', NOT_JSON);
  let shallow: unknown;
  try {
    shallow = JSON.parse(`${text.slice(0, start)}null${text.slice(end)}`) as unknown;
  } catch (cause) {
    throw new BesterError('malformed_json', NOT_JSON, { cause });
  }
  return JsonData.withHole(shallow, text, path, text.slice(start, end));
}
