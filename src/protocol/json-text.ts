// The one payload type carried end to end (docs/architecture.md): a JSON value with, where it came
// from a frame, the exact text it was parsed from, so that data the daemon only passes on (a
// client's `payload.data` to its handler, a handler's result to the recipients) is not serialised
// again (docs/protocol.md §4.1). The members' texts are found by json-scan.ts.

import { jsonMemberSource } from './json-scan.ts';

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
  /**
   * The UTF-8 bytes of the text, when the data came as bytes (ofSource, withHole) or is a member
   * found in a frame's bytes (withMember, beside its text): written as they are.
   */
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
  /**
   * A member whose text was found as the frame was read (withMember: parseFrameText's `find`), by
   * its path from here (`#foundPath` from index `#foundFrom` on: a member on the way shares its
   * holder's path array, no copy per frame), and that text: member() hands it on without reading the frame again.
   */
  #foundPath: readonly string[] | null = null;
  #foundFrom = 0;
  #foundText = '';
  /**
   * That member's bytes in the frame (a view: what source() hands to frame.ts encodeJsonPieces, which
   * copies them into the frames it writes). While the member is held, so is the chunk the frame
   * was read in (one read of its stream: at most 64 KiB over TCP), or the frame's own buffer when
   * it spanned reads, much as its text, a slice, holds the frame's whole text.
   */
  #foundBytes: Buffer | undefined = undefined;

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

  /**
   * A frame's value and text, with the text of its member at `path` (found as the frame was read:
   * parseFrameText's `find`) and that text's bytes in the frame, which member() then hands on as
   * they are.
   */
  static withMember(value: unknown, text: string, path: readonly string[], memberText: string, memberBytes: Buffer): JsonData {
    const data = new JsonData(value, text);
    data.#foundPath = path;
    data.#foundText = memberText;
    data.#foundBytes = memberBytes;
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
    const found = this.#foundPath;
    const from = this.#foundFrom;
    if (found !== null && startsWithPath(found, from, path)) {
      if (found.length - from === path.length) {
        const member = new JsonData(value, this.#foundText);
        member.#bytes = this.#foundBytes;
        return member;
      }
      // On the way to the found member: itself as any member, the found one from here on.
      const data = this.#memberOf(path, value);
      data.#foundPath = found;
      data.#foundFrom = from + path.length;
      data.#foundText = this.#foundText;
      data.#foundBytes = this.#foundBytes;
      return data;
    }
    return this.#memberOf(path, value);
  }

  #memberOf(path: readonly string[], value: unknown): JsonData {
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

/** Whether `path` from index `from` on begins with `prefix`. */
function startsWithPath(path: readonly string[], from: number, prefix: readonly string[]): boolean {
  if (prefix.length > path.length - from) return false;
  for (let i = 0; i < prefix.length; i++) if (path[from + i] !== prefix[i]) return false;
  return true;
}

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
