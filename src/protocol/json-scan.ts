// Reading JSON text without building values (docs/protocol.md §1.3, docs/performance.md): the
// nesting depth of a frame, and the exact span of one member of a frame, found in one pass over its
// text (or its UTF-8 bytes: JSON's syntax is ASCII, the same in both), so that data the daemon only
// passes on is sliced out of its frame instead of serialised again (json-text.ts's JsonData). Strings
// are skipped with indexOf: the long strings typical of payloads cost one native scan.

import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, isJsonSpace, OPEN_BRACE, OPEN_BRACKET, QUOTE } from './json-bytes.ts';
import type { JsonSource } from './json-text.ts';

/** The code unit (text) or byte (UTF-8 bytes) at `i`: JSON's syntax is ASCII, the same in both; NaN or undefined past the end. */
function at(src: JsonSource, i: number): number {
  return typeof src === 'string' ? src.charCodeAt(i) : src[i]!;
}

/**
 * The index just past the string that opens at `start` (`src[start]` is a quote), or -1 when it
 * never ends. A quote ends the string when an even number of backslashes precede it.
 */
function skipString(src: JsonSource, start: number): number {
  const text = typeof src === 'string';
  let close = text ? src.indexOf('"', start + 1) : src.indexOf(QUOTE, start + 1);
  while (close !== -1) {
    let before = close - 1;
    while (at(src, before) === BACKSLASH) before--;
    if ((close - 1 - before) % 2 === 0) return close + 1;
    close = text ? src.indexOf('"', close + 1) : src.indexOf(QUOTE, close + 1);
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
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < src.length; i++) {
    const c = at(src, i);
    if (c === QUOTE) {
      const end = skipString(src, i);
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

function skipSpace(src: JsonSource, i: number): number {
  while (isJsonSpace(at(src, i))) i++;
  return i;
}

/**
 * The index just past the value that starts at `i` (no leading space), or -1 if it does not end.
 * `outer` is how deeply the value is nested (the depth of the object holding it): `scanDeepest` is
 * raised to the deepest level it reaches.
 */
function skipValue(src: JsonSource, i: number, outer: number): number {
  const first = at(src, i);
  if (first === QUOTE) return skipString(src, i);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = outer;
    for (; i < src.length; i++) {
      const c = at(src, i);
      if (c === QUOTE) {
        const end = skipString(src, i);
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
  for (; i < src.length; i++) {
    const c = at(src, i);
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isJsonSpace(c)) break;
  }
  return i;
}

/** Whether the key string `src[start, end)` (quotes included) names `key`, escapes read as JSON does. */
function keyIs(src: JsonSource, start: number, end: number, key: string): boolean {
  if (typeof src !== 'string') return keyIs(src.toString('utf8', start, end), 0, end - start, key); // keys are short
  const length = end - start - 2;
  if (length === key.length && src.startsWith(key, start + 1)) return !key.includes('\\') || JSON.parse(src.slice(start, end)) === key;
  if (length < key.length) return false; // an escape only makes the text longer than what it means
  for (let i = start + 1; i < end - 1; i++) {
    if (src.charCodeAt(i) === BACKSLASH) return JSON.parse(src.slice(start, end)) === key;
  }
  return false;
}

/** Where readObject found its member: [foundStart, foundEnd), or foundStart -1 (none). */
let foundStart = -1;
let foundEnd = -1;
/** The scanDeepest nesting readObject and skipValue met (jsonNestingDepth's count: `{}` is 1), for scanMember. */
let scanDeepest = 0;

/**
 * Reads the object at `i` to its end and returns the index just past it, or -1 when there is no
 * object at `i` or it cannot be read. On the way it finds the member at `path[level..]`: a
 * member on the path is read (to its own end) as it is met, so the text is read once however
 * deep the path goes. Like JSON.parse, a repeated key means its last occurrence: each occurrence
 * of a key on the path forgets what an earlier one found.
 */
function readObject(src: JsonSource, i: number, path: readonly string[], level: number): number {
  if (at(src, i) !== OPEN_BRACE) return -1;
  if (level >= scanDeepest) scanDeepest = level + 1;
  i = skipSpace(src, i + 1);
  if (at(src, i) === CLOSE_BRACE) return i + 1;
  const key = path[level]!;
  const last = level === path.length - 1;
  for (;;) {
    if (at(src, i) !== QUOTE) return -1;
    const keyEnd = skipString(src, i);
    if (keyEnd === -1) return -1;
    const matches = keyIs(src, i, keyEnd, key);
    i = skipSpace(src, keyEnd);
    if (at(src, i) !== COLON) return -1;
    const start = skipSpace(src, i + 1);
    let end: number;
    if (!matches) end = skipValue(src, start, level + 1);
    else if (last) {
      end = skipValue(src, start, level + 1);
      foundStart = start;
      foundEnd = end;
    } else {
      foundStart = -1; // this occurrence decides: what an earlier one held is not the member
      end = readObject(src, start, path, level + 1);
      if (end === -1) {
        // Not an object (or not one that reads): no member down this way, whatever it met first.
        foundStart = -1;
        end = skipValue(src, start, level + 1);
      }
    }
    if (end === -1 || end === start) return -1;
    i = skipSpace(src, end);
    const c = at(src, i);
    if (c === CLOSE_BRACE) return i + 1;
    if (c !== COMMA) return -1;
    i = skipSpace(src, i + 1);
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
    let end = src.length;
    while (end > 0 && isJsonSpace(at(src, end - 1))) end--;
    span = [Math.min(skipSpace(src, 0), end), end];
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
  if (readRoot(src, path) === -1 || foundStart === -1) return undefined;
  return [foundStart, foundEnd];
}

/** readObject over the whole of `src`, what it finds and how deep it goes counted afresh. */
function readRoot(src: JsonSource, path: readonly string[]): number {
  foundStart = -1;
  scanDeepest = 0;
  return readObject(src, skipSpace(src, 0), path, 0);
}

/** What scanMember found: the member's span [start, end) (start -1: not there) and how deeply the text nests. */
export interface MemberScan {
  readonly start: number;
  readonly end: number;
  readonly depth: number;
}

/**
 * One pass over a frame's text before JSON.parse sees it: where the member at `path` (not empty) is,
 * as jsonMemberSpan finds it, and how deeply the text nests, as jsonNestingDepth counts it (a
 * repeated key's earlier values count too). Null when the text is not an object that reads to its
 * end, or has a broken escaped key: not JSON, or not an object. On text JSON.parse refuses, the
 * answer may be anything; on text it accepts, both are exact.
 */
export function scanMember(src: JsonSource, path: readonly string[]): MemberScan | null {
  let end: number;
  try {
    end = readRoot(src, path);
  } catch {
    return null; // keyIs: an escaped key JSON.parse refuses
  }
  return end === -1 ? null : { start: foundStart, end: foundEnd, depth: scanDeepest };
}
