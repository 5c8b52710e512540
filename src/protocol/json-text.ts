// Reading JSON text without building values (docs/protocol.md §1.3, docs/performance.md):
// the nesting depth of a frame before JSON.parse sees it, and the exact text of one member of a
// frame that was parsed, so that data the daemon only passes on (a client's `payload.data` to
// its handler, a handler's result to the recipients) is not serialised again; and whether bytes
// are JSON at all (isJsonBytes, json-bytes.ts), for a big member that is passed on without being parsed or decoded.
// Each reader takes a text or its UTF-8 bytes (JsonSource): JSON's syntax is ASCII, the same in
// both. Strings are skipped with indexOf: the long strings typical of payloads cost one native scan.

import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, isJsonSpace, OPEN_BRACE, OPEN_BRACKET, QUOTE } from './json-bytes.ts';

/**
 * JSON as it came from a socket: its text, or its UTF-8 bytes when it is big and only passed on
 * (parseFrameText's `lazy`): the bytes are written on as they are, never decoded into a string
 * (a string of near a MiB costs milliseconds of page faults and collections: docs/performance.md).
 */
export type JsonSource = string | Buffer;

const utf8 = new TextDecoder('utf-8');

/**
 * The one payload type carried end to end (docs/architecture.md): a JSON value and, where it
 * came from a frame, the exact text it was parsed from (or that text's bytes: JsonSource). Whoever
 * writes it uses `source`: the original when known (a client's `payload.data`, a handler's result),
 * else the value serialised once and remembered. Passing one on never serialises the same data twice.
 */
export class JsonData {
  #value: unknown;
  #text: string | undefined;
  /** The UTF-8 bytes of the text, when the data came as bytes (ofSource, withHole): written as they are. */
  #bytes: Buffer | undefined;
  /** False while only the text is known (ofSource): the value is parsed from it when first asked for. */
  #parsed = true;
  /** A member known by its text or bytes only (withHole: parseFrameText's `lazy`); in #value it reads null. */
  #hole: { readonly path: readonly string[]; readonly data: JsonData } | null = null;
  /** The whole value, the hole's member included, once someone asked for it. */
  #whole: unknown;
  /**
   * A member (member()) whose text is not sliced yet: the source it is in and its path there. It
   * is sliced when first needed; a member of it is found from the same source in one pass (the
   * result inside a handler's reply inside its multiplex wrapper is read once, not twice).
   */
  #in: JsonSource | undefined;
  #path: readonly string[] = NO_PATH;

  constructor(value: unknown, text?: string) {
    this.#value = value;
    this.#text = text;
  }

  /** A value with its source (text or bytes). */
  static #of(value: unknown, source: JsonSource): JsonData {
    const data = new JsonData(value);
    if (typeof source === 'string') data.#text = source;
    else data.#bytes = source;
    return data;
  }

  /**
   * Data known by its text or that text's UTF-8 bytes only, which JSON.parse accepted already (it is
   * part of a frame that was parsed): the value is parsed again (bytes decoded) only if someone asks
   * for it. For data that waits and is then passed on as it came (a peer's message,
   * docs/federation.md §3.3): its parsed copy is not kept meanwhile.
   */
  static ofSource(source: JsonSource): JsonData {
    const data = JsonData.#of(undefined, source);
    data.#parsed = false;
    return data;
  }

  /**
   * A frame read with one big member left as text (parseFrameText's `lazy`): `shallow` is the value
   * with that member reading null, `whole` the frame's source, `member` that member's (checked to
   * be JSON). The member is taken with member(path); `value` parses the whole only if asked for.
   */
  static withHole(shallow: unknown, whole: JsonSource, path: readonly string[], member: JsonSource): JsonData {
    const data = JsonData.#of(shallow, whole);
    data.#hole = { path, data: JsonData.ofSource(member) };
    return data;
  }

  /** The whole value (for data with a hole, the text is parsed whole once: prefer shallowValue and member). */
  get value(): unknown {
    if (!this.#parsed) {
      this.#value = JSON.parse(this.text) as unknown;
      this.#parsed = true;
    }
    if (this.#hole !== null) return (this.#whole ??= JSON.parse(this.text) as unknown);
    return this.#value;
  }

  /** The value, except that a member left as text (withHole) reads null: take that one with member(). */
  get shallowValue(): unknown {
    return this.#hole === null ? this.value : this.#value;
  }

  /** True when the whole value is at hand, nothing left to parse (ofSource and withHole data: false). */
  get hasValue(): boolean {
    return this.#parsed && this.#hole === null;
  }

  /**
   * The JSON text: the original when known (decoded from the bytes it came as, if it did: prefer
   * `source` to write it), else JSON.stringify once. Throws TypeError if not serialisable.
   */
  get text(): string {
    if (this.#in !== undefined) this.#slice();
    if (this.#text === undefined) this.#text = this.#bytes !== undefined ? utf8.decode(this.#bytes) : jsonTextOf(this.value);
    return this.#text;
  }

  /** What to write: the bytes the data came as (never decoded for it), else its text. */
  get source(): JsonSource {
    if (this.#in !== undefined) this.#slice();
    return this.#bytes ?? this.text;
  }

  /** True when the text (or its bytes) came with the value (nothing will be serialised). */
  get hasText(): boolean {
    if (this.#in !== undefined) this.#slice();
    return this.#text !== undefined || this.#bytes !== undefined;
  }

  /**
   * The member at `path` (object keys, outermost first), given its value: with its own slice of
   * this source when that is known, so that it too is passed on as it was written. The member
   * left as text (withHole), or one holding it, comes with that member still unparsed.
   */
  member(path: readonly string[] | null, value: unknown): JsonData {
    if (path === null) return new JsonData(value);
    // Not sliced yet itself: its member is found in the same source, by the joined path.
    if (this.#in !== undefined) return JsonData.#memberIn(value, this.#in, joinPaths(this.#path, path));
    const whole = this.#bytes ?? this.#text;
    if (whole === undefined) return new JsonData(value);
    const hole = this.#hole;
    if (hole !== null && path.length <= hole.path.length && path.every((key, i) => hole.path[i] === key)) {
      if (path.length === hole.path.length) return hole.data;
      return JsonData.withHole(value, jsonMemberSource(whole, path)!, hole.path.slice(path.length), hole.data.source);
    }
    return JsonData.#memberIn(value, whole, path);
  }

  /** `value`, the member at `path` of `source`, its text sliced from there when first needed. */
  static #memberIn(value: unknown, source: JsonSource, path: readonly string[]): JsonData {
    const data = new JsonData(value);
    data.#in = source;
    data.#path = path;
    return data;
  }

  #slice(): void {
    const member = jsonMemberSource(this.#in!, this.#path);
    this.#in = undefined;
    this.#path = NO_PATH;
    if (member === undefined) return; // not there as text: serialised from the value when asked
    if (typeof member === 'string') this.#text = member;
    else this.#bytes = member;
  }
}

const NO_PATH: readonly string[] = Object.freeze([]);

/** `outer` then `inner`, in a new array: with a plain loop (a spread makes iterators, concat looks up a species). */
function joinPaths(outer: readonly string[], inner: readonly string[]): string[] {
  const joined = new Array<string>(outer.length + inner.length);
  for (let i = 0; i < outer.length; i++) joined[i] = outer[i]!;
  for (let i = 0; i < inner.length; i++) joined[outer.length + i] = inner[i]!;
  return joined;
}

/** What to write for `value`: `text` when known, its source when it is JsonData, else JSON.stringify. Throws if not serialisable. */
export function jsonSourceOf(value: unknown, text?: string): JsonSource {
  if (text === undefined && value instanceof JsonData) return value.source;
  return jsonTextOf(value, text);
}

/** The JSON text of pieces (encodeJsonPieces'): their texts, bytes decoded. */
export function jsonTextOfPieces(pieces: ReadonlyArray<JsonSource>): string {
  let text = '';
  for (const piece of pieces) text += typeof piece === 'string' ? piece : utf8.decode(piece);
  return text;
}

/** The JSON text of `value`: `text` when known, else JSON.stringify. Throws if `value` is not serialisable. */
export function jsonTextOf(value: unknown, text?: string): string {
  if (text !== undefined) return text;
  if (value instanceof JsonData) return value.text;
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('value is not JSON-serialisable');
  return json;
}

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

/** The index just past the value that starts at `i` (no leading space), or -1 if it does not end. */
function skipValue(src: JsonSource, i: number): number {
  const first = at(src, i);
  if (first === QUOTE) return skipString(src, i);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (; i < src.length; i++) {
      const c = at(src, i);
      if (c === QUOTE) {
        const end = skipString(src, i);
        if (end === -1) return -1;
        i = end - 1;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        depth++;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--depth === 0) return i + 1;
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

/**
 * Reads the object at `i` to its end and returns the index just past it, or -1 when there is no
 * object at `i` or it cannot be read. On the way it finds the member at `path[level..]`: a
 * member on the path is read (to its own end) as it is met, so the text is read once however
 * deep the path goes. Like JSON.parse, a repeated key means its last occurrence: each occurrence
 * of a key on the path forgets what an earlier one found.
 */
function readObject(src: JsonSource, i: number, path: readonly string[], level: number): number {
  if (at(src, i) !== OPEN_BRACE) return -1;
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
    if (!matches) end = skipValue(src, start);
    else if (last) {
      end = skipValue(src, start);
      foundStart = start;
      foundEnd = end;
    } else {
      foundStart = -1; // this occurrence decides: what an earlier one held is not the member
      end = readObject(src, start, path, level + 1);
      if (end === -1) {
        // Not an object (or not one that reads): no member down this way, whatever it met first.
        foundStart = -1;
        end = skipValue(src, start);
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
  foundStart = -1;
  if (readObject(src, skipSpace(src, 0), path, 0) === -1 || foundStart === -1) return undefined;
  return [foundStart, foundEnd];
}
