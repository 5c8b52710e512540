// Reading JSON text without building values (docs/protocol.md §1.3, docs/performance.md): the
// nesting depth of a frame, and the exact span of one member of a frame, found in one pass over its
// UTF-8 bytes (JSON's syntax is ASCII: a text is read as its UTF-8, and indexes found there are
// turned back into the text's), so that data the daemon only passes on is sliced out of its frame
// instead of serialised again (json-text.ts's JsonData). Short strings are skipped byte by byte,
// the rest of a long one with indexOf: the long strings typical of payloads cost one native scan.

import { isJsonSpace } from './json-bytes.ts';
import type { JsonSource } from './json-text.ts';

// JSON's structural characters (json-bytes.ts declares the same for its own loops), declared here
// rather than imported: optimised code reads an imported binding from its module cell at every use, while a
// constant of this module is folded in. In this file's loops that made the scan a third slower.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * The bytes the scanner reads: a frame's own, or a text's UTF-8. The scanner reads bytes only, so
 * that its loops see one kind of input (bytes read faster than a string's code units,
 * and code that sees both is slower for each).
 */
function bytesOf(src: JsonSource): Uint8Array {
  return typeof src === 'string' ? encoder.encode(src) : src;
}

const encoder = new TextEncoder();
/** Keeps a leading U+FEFF (a text's own character, counted by textIndex); JSON.parse would refuse invalid UTF-8 anyway. */
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Where byte `i` of `bytes`, the UTF-8 of `text`, is in `text`: the same index when the text is
 * ASCII (as long as its bytes), else the length of what the bytes before it decode to (a lone
 * surrogate encodes as U+FFFD, one code unit too).
 */
function textIndex(text: string, bytes: Uint8Array, i: number): number {
  return bytes.length === text.length ? i : decoder.decode(bytes.subarray(0, i)).length;
}

/** Strings of up to this many bytes are read byte by byte; a longer one's rest is searched with indexOf (native). */
const SHORT_STRING = 32;

/**
 * The index just past the string that opens at `start` (`b[start]` is a quote), or -1 when it
 * never ends. A quote ends the string when an even number of backslashes precede it.
 */
function skipString(b: Uint8Array, start: number): number {
  const n = b.length;
  let i = start + 1;
  const short = Math.min(n, i + SHORT_STRING);
  for (; i < short; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  if (i >= n) return -1;
  let close = b.indexOf(QUOTE, i);
  while (close !== -1) {
    let before = close - 1;
    while (b[before] === BACKSLASH) before--;
    if ((close - 1 - before) % 2 === 0) return close + 1;
    close = b.indexOf(QUOTE, close + 1);
  }
  return -1;
}

/**
 * How deeply the JSON text (or its UTF-8 bytes) nests objects and arrays (`{}` is 1, `{"a":[1]}`
 * is 2, a scalar 0). Brackets inside strings (escapes included) do not count. Stops early and
 * returns a number above `stopAbove` once the depth passes it. Does not validate: invalid text
 * gets some number and is refused by JSON.parse afterwards; for any text JSON.parse accepts the answer is exact.
 */
export function jsonNestingDepth(src: JsonSource, stopAbove = Number.POSITIVE_INFINITY): number {
  const b = bytesOf(src);
  let depth = 0;
  let deepest = 0;
  const n = b.length;
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === QUOTE) {
      const end = skipString(b, i);
      if (end === -1) return deepest;
      i = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return deepest;
}

/**
 * Whether a parsed JSON value nests objects and arrays deeper than `limit` (depth as
 * jsonNestingDepth counts it): stops `limit` levels down, so its recursion is bounded whatever the value.
 */
export function jsonValueDeeper(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (limit === 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (jsonValueDeeper(value[i], limit - 1)) return true;
    return false;
  }
  for (const key in value) if (jsonValueDeeper((value as Record<string, unknown>)[key], limit - 1)) return true;
  return false;
}

function skipSpace(b: Uint8Array, i: number): number {
  while (isJsonSpace(b[i]!)) i++;
  return i;
}

/**
 * The index just past the value that starts at `i` (no leading space), or -1 if it does not end.
 * `outer` is how deeply the value is nested (the depth of the object holding it): `scanDeepest` is
 * raised to the deepest level it reaches.
 */
function skipValue(b: Uint8Array, i: number, outer: number): number {
  const first = b[i];
  if (first === QUOTE) return skipString(b, i);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = outer;
    const n = b.length;
    for (; i < n; i++) {
      const c = b[i]!;
      if (c === QUOTE) {
        const end = skipString(b, i);
        if (end === -1) return -1;
        i = end - 1;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (++depth > scanDeepest) scanDeepest = depth;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--depth === outer) return i + 1;
      }
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  const n = b.length;
  for (; i < n; i++) {
    const c = b[i]!;
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isJsonSpace(c)) break;
  }
  return i;
}

/**
 * Whether the key string `b[start, end)` (quotes included) names `key`, escapes read as JSON does.
 * An escape or a multi-byte character makes the text longer than what it means: a text as long as
 * the key names it exactly when its bytes are the key's code units, all ASCII and no backslash; a
 * longer one only when it holds an escape or a multi-byte character, and is then decoded and compared.
 */
function keyIs(b: Uint8Array, start: number, end: number, key: string): boolean {
  const length = end - start - 2;
  if (length === key.length) {
    for (let i = 0; i < length; i++) {
      const c = b[start + 1 + i]!;
      if (c !== key.charCodeAt(i) || c >= 0x80 || c === BACKSLASH) return false;
    }
    return true;
  }
  if (length < key.length) return false;
  for (let i = start + 1; i < end - 1; i++) {
    const c = b[i]!;
    if (c === BACKSLASH || c >= 0x80) return parsedKey(b, start, end) === key;
  }
  return false;
}

/** The key string `b[start, end)` (quotes included) as JSON reads it; a SyntaxError from a broken escape. */
function parsedKey(b: Uint8Array, start: number, end: number): unknown {
  return JSON.parse(decoder.decode(b.subarray(start, end)));
}

/** Where readObject found its member: [foundStart, foundEnd), or foundStart -1 (none). */
let foundStart = -1;
let foundEnd = -1;
/** The deepest nesting readObject and skipValue met (jsonNestingDepth's count: `{}` is 1), for scanMember. */
let scanDeepest = 0;

/**
 * Reads the object at `i` to its end and returns the index just past it, or -1 when there is no
 * object at `i` or it cannot be read. On the way it finds the member at `path[level..]`: a
 * member on the path is read (to its own end) as it is met, so the text is read once however
 * deep the path goes. Like JSON.parse, a repeated key means its last occurrence: each occurrence
 * of a key on the path forgets what an earlier one found.
 */
function readObject(b: Uint8Array, i: number, path: readonly string[], level: number): number {
  if (b[i] !== OPEN_BRACE) return -1;
  if (level >= scanDeepest) scanDeepest = level + 1;
  i = skipSpace(b, i + 1);
  if (b[i] === CLOSE_BRACE) return i + 1;
  const key = path[level]!;
  const last = level === path.length - 1;
  for (;;) {
    if (b[i] !== QUOTE) return -1;
    const keyEnd = skipString(b, i);
    if (keyEnd === -1) return -1;
    const matches = keyIs(b, i, keyEnd, key);
    i = skipSpace(b, keyEnd);
    if (b[i] !== COLON) return -1;
    const start = skipSpace(b, i + 1);
    let end: number;
    if (!matches) end = skipValue(b, start, level + 1);
    else if (last) {
      end = skipValue(b, start, level + 1);
      foundStart = start;
      foundEnd = end;
    } else {
      foundStart = -1; // this occurrence decides: what an earlier one held is not the member
      end = readObject(b, start, path, level + 1);
      if (end === -1) {
        // Not an object (or not one that reads): no member down this way, whatever it met first.
        foundStart = -1;
        end = skipValue(b, start, level + 1);
      }
    }
    if (end === -1 || end === start) return -1;
    i = skipSpace(b, end);
    const c = b[i];
    if (c === CLOSE_BRACE) return i + 1;
    if (c !== COMMA) return -1;
    i = skipSpace(b, i + 1);
  }
}

/**
 * The exact text of the value at `path` (object keys, outermost first) in `src`, a text or its
 * UTF-8 bytes (then a view of them, not a copy), which must be JSON that JSON.parse accepted;
 * undefined when some step is not an object or lacks the key. Agrees with JSON.parse: a repeated
 * key means its last occurrence, escaped keys are decoded. JSON.parse of the result equals the
 * parsed value at that path.
 */
export function jsonMemberSource<S extends JsonSource>(src: S, path: readonly string[]): S | undefined {
  let span: [number, number] | undefined;
  if (path.length > 0) span = jsonMemberSpan(src, path);
  else {
    // The whole, without the space around it.
    const code = typeof src === 'string' ? (i: number) => src.charCodeAt(i) : (i: number) => src[i]!;
    let start = 0;
    let end = src.length;
    while (end > 0 && isJsonSpace(code(end - 1))) end--;
    while (start < end && isJsonSpace(code(start))) start++;
    span = [start, end];
  }
  if (span === undefined) return undefined;
  return (typeof src === 'string' ? src.slice(span[0], span[1]) : src.subarray(span[0], span[1])) as S;
}

/**
 * Where jsonMemberSource's member is: its span [start, end) in `src` (`path` not empty). On text
 * JSON.parse did not accept, some span or undefined, or a SyntaxError from a broken escaped key:
 * a caller that has not parsed the text checks what it gets (frame.ts, parseFrameText's `lazy`).
 */
export function jsonMemberSpan(src: JsonSource, path: readonly string[]): [number, number] | undefined {
  const b = bytesOf(src);
  if (readRoot(b, path) === -1 || foundStart === -1) return undefined;
  if (typeof src !== 'string') return [foundStart, foundEnd];
  return [textIndex(src, b, foundStart), textIndex(src, b, foundEnd)];
}

/** readObject over the whole of `b`, what it finds and how deep it goes counted afresh. */
function readRoot(b: Uint8Array, path: readonly string[]): number {
  foundStart = -1;
  scanDeepest = 0;
  return readObject(b, skipSpace(b, 0), path, 0);
}

/** What scanMember found: the member's span [start, end) (start -1: not there) and how deeply the text nests. */
export interface MemberScan {
  readonly start: number;
  readonly end: number;
  readonly depth: number;
}

/**
 * One pass over a frame (its bytes, or a text) before JSON.parse sees it: where the member at `path`
 * (not empty) is, as jsonMemberSpan finds it (in `src`'s own indexes), and how deeply the text
 * nests, as jsonNestingDepth counts it (a repeated key's earlier values count too). Null when the
 * text is not an object that reads to its end, or has a broken escaped key: not JSON, or not an
 * object. On text JSON.parse refuses, the answer may be anything; on text it accepts, both are exact.
 */
export function scanMember(src: JsonSource, path: readonly string[]): MemberScan | null {
  const b = bytesOf(src);
  let end: number;
  try {
    end = readRoot(b, path);
  } catch {
    return null; // keyIs: an escaped key JSON.parse refuses
  }
  if (end === -1) return null;
  if (typeof src !== 'string' || foundStart === -1) return { start: foundStart, end: foundEnd, depth: scanDeepest };
  return { start: textIndex(src, b, foundStart), end: textIndex(src, b, foundEnd), depth: scanDeepest };
}
