// Whether UTF-8 bytes are JSON, answered without building anything (docs/protocol.md §1.3).
// JSON.parse answers the same question but needs a string and builds the value: for a member of
// near a MiB (a peer's data, a handler's result) that costs milliseconds of the event loop, a
// string of that size and a copy of every string in it, while the value is only passed on as
// bytes. Agrees with JSON.parse on every text's UTF-8 (a property test checks it against
// JSON.parse); whether the bytes are UTF-8 at all is the caller's check (buffer.isUtf8); nesting
// depth is not limited here (jsonNestingDepth, json-scan.ts, is).

/**
 * JSON's structural characters, the same in a text (code units) and in its UTF-8 (bytes). Not
 * exported: a module that scans declares its own (json-scan.ts says why).
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const IN_ARRAY = 0;
const IN_OBJECT = 1;

/** Whether a code unit or byte is JSON whitespace (RFC 8259 §2). */
export function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpaceTo(b: Uint8Array, i: number, end: number): number {
  while (i < end && isJsonSpace(b[i]!)) i++;
  return i;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/**
 * The bytes as 32-bit words, for scanning long strings four bytes at a time: word k holds bytes
 * [base + 4k, base + 4k + 4) (a view of the same memory, aligned as Int32Array needs).
 */
interface Words {
  readonly words: Int32Array;
  readonly base: number;
}

function wordsOf(b: Uint8Array): Words {
  const base = (4 - (b.byteOffset & 3)) & 3;
  const count = b.length > base ? (b.length - base) >> 2 : 0;
  return { words: new Int32Array(b.buffer, b.byteOffset + base, count), base };
}

/** Whether a byte ends a run of plain string bytes: a quote, a backslash or a control character. */
function special(c: number): boolean {
  return c === QUOTE || c === BACKSLASH || c < 0x20;
}

/**
 * The index of the first quote, backslash or control character in [i, end), or end. Four bytes at
 * a time where it can (a string of near a MiB is scanned in well under a millisecond): a word has
 * such a byte exactly when one of the three zero-byte tests below finds one.
 */
function plainEnd(b: Uint8Array, w: Words, i: number, end: number): number {
  while (i < end && ((i - w.base) & 3) !== 0) {
    if (special(b[i]!)) return i;
    i++;
  }
  const { words } = w;
  let k = (i - w.base) >> 2;
  const last = Math.min(words.length, (end - w.base) >> 2);
  for (; k < last; k++) {
    const v = words[k]!;
    const q = v ^ 0x22222222;
    const s = v ^ 0x5c5c5c5c;
    if ((((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s) | ((v - 0x20202020) & ~v)) & 0x80808080) break;
  }
  for (i = Math.max(i, w.base + 4 * k); i < end; i++) if (special(b[i]!)) return i;
  return end;
}

/** The index just past the string that opens at `i`, or -1: no control characters, only JSON's escapes (RFC 8259 §7). */
function stringEnd(b: Uint8Array, w: Words, i: number, end: number): number {
  for (i++; i < end; i++) {
    i = plainEnd(b, w, i, end);
    if (i >= end) return -1;
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    // A backslash: one of JSON's escapes.
    const e = b[++i];
    if (e === 0x75) {
      if (i + 4 >= end || !isHex(b[i + 1]!) || !isHex(b[i + 2]!) || !isHex(b[i + 3]!) || !isHex(b[i + 4]!)) return -1;
      i += 4;
    } else if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
      return -1;
    }
  }
  return -1;
}

function digitsEnd(b: Uint8Array, i: number, end: number): number {
  while (i < end && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  return i;
}

/** The index just past the number at `i`, or -1 (RFC 8259 §6). A number ends at a delimiter: "01" or "1.5.2" is not JSON. */
function numberEnd(b: Uint8Array, i: number, end: number): number {
  if (b[i] === 0x2d) i++;
  if (i >= end) return -1;
  if (b[i] === 0x30) i++;
  else if (b[i]! >= 0x31 && b[i]! <= 0x39) i = digitsEnd(b, i + 1, end);
  else return -1;
  if (i < end && b[i] === 0x2e) {
    const after = digitsEnd(b, i + 1, end);
    if (after === i + 1) return -1;
    i = after;
  }
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < end && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    const after = digitsEnd(b, i, end);
    if (after === i) return -1;
    i = after;
  }
  if (i === end) return i;
  const next = b[i]!;
  return next === 0x2e || next === 0x65 || next === 0x45 || (next >= 0x30 && next <= 0x39) ? -1 : i;
}

function literalEnd(b: Uint8Array, i: number, end: number, word: string): number {
  if (i + word.length > end) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** The index just past the scalar (string, number, true, false, null) at `i`, or -1. */
function scalar(b: Uint8Array, w: Words, i: number, end: number): number {
  const c = b[i]!;
  if (c === QUOTE) return stringEnd(b, w, i, end);
  if (c === 0x74) return literalEnd(b, i, end, 'true');
  if (c === 0x66) return literalEnd(b, i, end, 'false');
  if (c === 0x6e) return literalEnd(b, i, end, 'null');
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return numberEnd(b, i, end);
  return -1;
}

/**
 * True when the UTF-8 bytes `b` from `start` to `end` (default: all of them) are one JSON value,
 * with whitespace around it allowed: exactly when JSON.parse would accept their text.
 */
export function isJsonBytes(b: Uint8Array, start = 0, end = b.length): boolean {
  const w = wordsOf(b);
  const stack: number[] = [];
  let i = skipSpaceTo(b, start, end);
  for (;;) {
    // A value is expected at i.
    if (i >= end) return false;
    const c = b[i]!;
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const close = c === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET;
      i = skipSpaceTo(b, i + 1, end);
      if (i < end && b[i] === close) {
        i++;
      } else {
        stack.push(c === OPEN_BRACE ? IN_OBJECT : IN_ARRAY);
        if (c === OPEN_BRACE) {
          i = memberName(b, w, i, end);
          if (i === -1) return false;
        }
        continue;
      }
    } else {
      i = scalar(b, w, i, end);
      if (i === -1) return false;
    }
    // After a value: close what it ends, until a comma asks for the next value.
    for (;;) {
      i = skipSpaceTo(b, i, end);
      const top = stack.length === 0 ? -1 : stack[stack.length - 1]!;
      if (top === -1) return i === end;
      if (i >= end) return false;
      const d = b[i]!;
      if (d === COMMA) {
        i = skipSpaceTo(b, i + 1, end);
        if (top === IN_OBJECT) {
          i = memberName(b, w, i, end);
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
function memberName(b: Uint8Array, w: Words, i: number, end: number): number {
  if (i >= end || b[i] !== QUOTE) return -1;
  const after = stringEnd(b, w, i, end);
  if (after === -1) return -1;
  const colon = skipSpaceTo(b, after, end);
  if (colon >= end || b[colon] !== COLON) return -1;
  return skipSpaceTo(b, colon + 1, end);
}
