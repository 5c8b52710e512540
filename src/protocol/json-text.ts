// Reading JSON text without building values (docs/protocol.md §1.3, docs/performance.md):
// the nesting depth of a frame before JSON.parse sees it, and the exact text of one member of a
// frame that was parsed, so that data the daemon only passes on (a client's `payload.data` to
// its handler, a handler's result to the recipients) is not serialised again; and whether a text
// is JSON at all (isJsonText), for a big member that is passed on without being parsed.
// Strings are skipped with indexOf: the long strings typical of payloads cost one native scan.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * The one payload type carried end to end (docs/architecture.md): a JSON value and, where it
 * came from a frame, the exact text it was parsed from. Whoever writes it uses `text`: the
 * original text when known (a client's `payload.data`, a handler's result), else the value
 * serialised once and remembered. Passing one on never serialises the same data twice.
 */
export class JsonData {
  #value: unknown;
  #text: string | undefined;
  /** False while only the text is known (ofText): the value is parsed from it when first asked for. */
  #parsed = true;
  /** A member known by its text only (withHole: parseFrameText's `lazy`); in #value it reads null. */
  #hole: { readonly path: readonly string[]; readonly text: string } | null = null;
  /** The whole value, the hole's member included, once someone asked for it. */
  #whole: unknown;

  constructor(value: unknown, text?: string) {
    this.#value = value;
    this.#text = text;
  }

  /**
   * Data known by its text only, which JSON.parse accepted already (it is part of a frame that was
   * parsed): the value is parsed again only if someone asks for it. For data that waits and is then
   * passed on as text (a peer's message, docs/federation.md §3.3): its parsed copy is not kept meanwhile.
   */
  static ofText(text: string): JsonData {
    const data = new JsonData(undefined, text);
    data.#parsed = false;
    return data;
  }

  /**
   * A frame read with one big member left as text (parseFrameText's `lazy`): `shallow` is the value
   * with that member reading null, `memberText` the member's JSON text (checked to be JSON). The
   * member is taken with member(path), as text; `value` parses the whole text only if asked for.
   */
  static withHole(shallow: unknown, text: string, path: readonly string[], memberText: string): JsonData {
    const data = new JsonData(shallow, text);
    data.#hole = { path, text: memberText };
    return data;
  }

  /** The whole value (for data with a hole, the text is parsed whole once: prefer shallowValue and member). */
  get value(): unknown {
    if (!this.#parsed) {
      this.#value = JSON.parse(this.#text!) as unknown;
      this.#parsed = true;
    }
    if (this.#hole !== null) return (this.#whole ??= JSON.parse(this.#text!) as unknown);
    return this.#value;
  }

  /** The value, except that a member left as text (withHole) reads null: take that one with member(). */
  get shallowValue(): unknown {
    return this.#hole === null ? this.value : this.#value;
  }

  /** True when the whole value is at hand, nothing left to parse (ofText and withHole data: false). */
  get hasValue(): boolean {
    return this.#parsed && this.#hole === null;
  }

  /** The JSON text: the original when known, else JSON.stringify once. Throws TypeError if not serialisable. */
  get text(): string {
    if (this.#text === undefined) this.#text = jsonTextOf(this.value);
    return this.#text;
  }

  /** True when the text came with the value (nothing will be serialised). */
  get hasText(): boolean {
    return this.#text !== undefined;
  }

  /**
   * The member at `path` (object keys, outermost first), given its value: with its own slice of
   * this text when the text is known, so that it too is passed on as it was written. The member
   * left as text (withHole), or one holding it, comes as text with that member still unparsed.
   */
  member(path: readonly string[] | null, value: unknown): JsonData {
    if (path === null || this.#text === undefined) return new JsonData(value);
    const hole = this.#hole;
    if (hole !== null && path.length <= hole.path.length && path.every((key, i) => hole.path[i] === key)) {
      if (path.length === hole.path.length) return JsonData.ofText(hole.text);
      return JsonData.withHole(value, jsonMemberText(this.#text, path)!, hole.path.slice(path.length), hole.text);
    }
    return new JsonData(value, jsonMemberText(this.#text, path));
  }
}

/** The JSON text of `value`: `text` when known, else JSON.stringify. Throws if `value` is not serialisable. */
export function jsonTextOf(value: unknown, text?: string): string {
  if (text !== undefined) return text;
  if (value instanceof JsonData) return value.text;
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('value is not JSON-serialisable');
  return json;
}

/**
 * The index just past the string that opens at `start` (`text[start]` is a quote), or -1 when it
 * never ends. A quote ends the string when an even number of backslashes precede it.
 */
function skipString(text: string, start: number): number {
  let close = text.indexOf('"', start + 1);
  while (close !== -1) {
    let before = close - 1;
    while (text.charCodeAt(before) === BACKSLASH) before--;
    if ((close - 1 - before) % 2 === 0) return close + 1;
    close = text.indexOf('"', close + 1);
  }
  return -1;
}

/**
 * How deeply the JSON text nests objects and arrays (`{}` is 1, `{"a":[1]}` is 2, a scalar 0).
 * Brackets inside strings (escapes included) do not count. Stops early and returns a number above
 * `stopAbove` once the depth passes it. Does not validate: invalid text gets some number and is
 * refused by JSON.parse afterwards; for any text JSON.parse accepts the answer is exact.
 */
export function jsonNestingDepth(text: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = skipString(text, i);
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

function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** The index just past the value that starts at `i` (no leading space), or -1 if it does not end. */
function skipValue(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === QUOTE) return skipString(text, i);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        const end = skipString(text, i);
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
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) break;
  }
  return i;
}

/** Whether the key string `text[start, end)` (quotes included) names `key`, escapes read as JSON does. */
function keyIs(text: string, start: number, end: number, key: string): boolean {
  const length = end - start - 2;
  if (length === key.length && text.startsWith(key, start + 1)) return !key.includes('\\') || JSON.parse(text.slice(start, end)) === key;
  if (length < key.length) return false; // an escape only makes the text longer than what it means
  for (let i = start + 1; i < end - 1; i++) {
    if (text.charCodeAt(i) === BACKSLASH) return JSON.parse(text.slice(start, end)) === key;
  }
  return false;
}

/**
 * The span [start, end) of the member `key` of the object at `i`, the last one when the key is
 * repeated (as JSON.parse keeps the last); undefined if there is no object at `i` or no such member.
 */
function memberSpan(text: string, i: number, key: string): [number, number] | undefined {
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  let found: [number, number] | undefined;
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return undefined;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = skipString(text, i);
    if (keyEnd === -1) return undefined;
    const matches = keyIs(text, i, keyEnd, key);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return undefined;
    const start = skipSpace(text, i + 1);
    const end = skipValue(text, start);
    if (end === -1 || end === start) return undefined;
    if (matches) found = [start, end];
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACE) return found;
    if (c !== COMMA) return undefined;
    i = skipSpace(text, i + 1);
  }
}

/**
 * The exact text of the value at `path` (object keys, outermost first) in `text`, which must be
 * JSON that JSON.parse accepted; undefined when some step is not an object or lacks the key.
 * Agrees with JSON.parse: a repeated key means its last occurrence, escaped keys are decoded.
 * JSON.parse of the result equals the parsed value at that path.
 */
export function jsonMemberText(text: string, path: readonly string[]): string | undefined {
  if (path.length === 0) return text.trim();
  const span = jsonMemberSpan(text, path);
  return span === undefined ? undefined : text.slice(span[0], span[1]);
}

/**
 * Where jsonMemberText's member is: its span [start, end) in `text` (`path` not empty). On text
 * JSON.parse did not accept, some span or undefined, or a SyntaxError from a broken escaped key:
 * a caller that has not parsed the text checks what it gets (frame.ts, parseFrameText's `lazy`).
 */
export function jsonMemberSpan(text: string, path: readonly string[]): [number, number] | undefined {
  let at = skipSpace(text, 0);
  let span: [number, number] | undefined;
  for (const key of path) {
    span = memberSpan(text, at, key);
    if (span === undefined) return undefined;
    at = span[0];
  }
  return span;
}

// Whether a text is JSON, answered without building anything (docs/protocol.md §1.3). JSON.parse
// answers the same question but builds the value: for a member of near a MiB (a peer's data, a
// handler's result) that costs milliseconds of the event loop and a copy of every string, while
// the value is only passed on as text. Agrees with JSON.parse on every text (a property test
// checks it against JSON.parse); nesting depth is not limited here (jsonNestingDepth is).

/** One JSON string at lastIndex: no control characters, only JSON's escapes (RFC 8259 §7). */
// eslint-disable-next-line no-control-regex -- the control characters are what JSON forbids in a string
const STRING = /"[^"\\\u0000-\u001f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\u0000-\u001f]*)*"/y;
/** One JSON number at lastIndex (RFC 8259 §6). */
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

const IN_ARRAY = 0;
const IN_OBJECT = 1;

function skipSpaceTo(text: string, i: number, end: number): number {
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
  return i;
}

/** The index just past the token matched by `re` at `i`, or -1 (also when it would run past `end`). */
function token(re: RegExp, text: string, i: number, end: number): number {
  re.lastIndex = i;
  if (!re.test(text)) return -1;
  return re.lastIndex <= end ? re.lastIndex : -1;
}

/** The index just past the scalar (string, number, true, false, null) at `i`, or -1. */
function scalar(text: string, i: number, end: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return token(STRING, text, i, end);
  if (c === 0x74) return text.startsWith('true', i) && i + 4 <= end ? i + 4 : -1;
  if (c === 0x66) return text.startsWith('false', i) && i + 5 <= end ? i + 5 : -1;
  if (c === 0x6e) return text.startsWith('null', i) && i + 4 <= end ? i + 4 : -1;
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
    const after = token(NUMBER, text, i, end);
    // A number ends at a delimiter: "01" or "1.5.2" is not JSON.
    if (after === -1 || after === end) return after;
    const next = text.charCodeAt(after);
    return next === 0x2e || next === 0x65 || next === 0x45 || (next >= 0x30 && next <= 0x39) ? -1 : after;
  }
  return -1;
}

/**
 * True when `text` from `start` to `end` (default: all of it) is one JSON value, with whitespace
 * around it allowed: exactly when JSON.parse would accept that slice.
 */
export function isJsonText(text: string, start = 0, end = text.length): boolean {
  const stack: number[] = [];
  let i = skipSpaceTo(text, start, end);
  for (;;) {
    // A value is expected at i.
    if (i >= end) return false;
    const c = text.charCodeAt(i);
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      i = skipSpaceTo(text, i + 1, end);
      if (text.charCodeAt(i) === close && i < end) {
        i++;
      } else {
        stack.push(c === OPEN_BRACE ? IN_OBJECT : IN_ARRAY);
        if (c === OPEN_BRACE) {
          i = memberName(text, i, end);
          if (i === -1) return false;
        }
        continue;
      }
    } else {
      i = scalar(text, i, end);
      if (i === -1) return false;
    }
    // After a value: close what it ends, until a comma asks for the next value.
    for (;;) {
      i = skipSpaceTo(text, i, end);
      const top = stack.length === 0 ? -1 : stack[stack.length - 1]!;
      if (top === -1) return i === end;
      if (i >= end) return false;
      const d = text.charCodeAt(i);
      if (d === COMMA) {
        i = skipSpaceTo(text, i + 1, end);
        if (top === IN_OBJECT) {
          i = memberName(text, i, end);
          if (i === -1) return false;
        }
        break;
      }
      if (d !== (top === IN_OBJECT ? CLOSE_BRACE : CLOSE_BRACKET)) return false;
      stack.pop();
      i++;
    }
  }
}

/** A member's name and its colon at `i`; the index where its value starts, or -1. */
function memberName(text: string, i: number, end: number): number {
  if (i >= end || text.charCodeAt(i) !== QUOTE) return -1;
  const after = token(STRING, text, i, end);
  if (after === -1) return -1;
  const colon = skipSpaceTo(text, after, end);
  if (colon >= end || text.charCodeAt(colon) !== COLON) return -1;
  return skipSpaceTo(text, colon + 1, end);
}
