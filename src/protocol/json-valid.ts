// Whether a text is JSON, answered without building anything (docs/protocol.md §1.3). JSON.parse
// answers the same question but builds the value: for a member of near a MiB (a peer's data, a
// handler's result) that costs milliseconds of the event loop and a copy of every string, while
// the value is only passed on as text. Agrees with JSON.parse on every text (a property test
// checks it against JSON.parse); nesting depth is not limited here (jsonNestingDepth is). Pure.

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** One JSON string at lastIndex: no control characters, only JSON's escapes (RFC 8259 §7). */
// eslint-disable-next-line no-control-regex -- the control characters are what JSON forbids in a string
const STRING = /"[^"\\\u0000-\u001f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\u0000-\u001f]*)*"/y;
/** One JSON number at lastIndex (RFC 8259 §6). */
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

const IN_ARRAY = 0;
const IN_OBJECT = 1;

function skipSpace(text: string, i: number, end: number): number {
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
  let i = skipSpace(text, start, end);
  for (;;) {
    // A value is expected at i.
    if (i >= end) return false;
    const c = text.charCodeAt(i);
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      i = skipSpace(text, i + 1, end);
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
      i = skipSpace(text, i, end);
      const top = stack.length === 0 ? -1 : stack[stack.length - 1]!;
      if (top === -1) return i === end;
      if (i >= end) return false;
      const d = text.charCodeAt(i);
      if (d === COMMA) {
        i = skipSpace(text, i + 1, end);
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
  const colon = skipSpace(text, after, end);
  if (colon >= end || text.charCodeAt(colon) !== COLON) return -1;
  return skipSpace(text, colon + 1, end);
}
