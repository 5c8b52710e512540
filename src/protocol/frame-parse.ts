// Reading a frame's body as JSON (docs/protocol.md §1.3): strict UTF-8, the nesting depth checked
// before anything is built, and the members the daemon only passes on found as written. No I/O
// here; frame.ts re-exports this module's API.
import { isUtf8 } from 'node:buffer';
import { BesterError } from './errors.ts';
import { isJsonBytes } from './json-bytes.ts';
import { jsonMemberSpan, jsonNestingDepth, jsonValueDeeper, scanMember } from './json-scan.ts';
import { JsonData } from './json-text.ts';

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
  // The member as the frame's own bytes (written on as they are), and as text: a slice of the
  // frame's when it is ASCII (as long as its bytes), else those bytes decoded.
  const memberBytes = bytes.subarray(scan.start, scan.end);
  const member = text.length === bytes.length ? text.slice(scan.start, scan.end) : utf8.decode(memberBytes);
  return JsonData.withMember(value, text, options.find!, member, memberBytes);
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
