// The generators' messages, encoded once: each message is a copy of a template with its sequence
// number and send time written as fixed-width digits at known offsets, and a receiver reads the
// send time back with one indexOf instead of parsing the JSON (the generator must stay lean so
// that it is not what limits a run; docs/performance.md, "The load generator").

const ID_DIGITS = 10;
const T_DIGITS = 15;
const ID_MARK = '@'.repeat(ID_DIGITS);
const T_MARK = '#'.repeat(T_DIGITS);
/** The send time is a string of digits (fixed width; a JSON number may not start with 0). */
const T_KEY = Buffer.from('"t":"');
const ZERO = 0x30;

/** Microseconds on this process's monotonic clock. */
export function nowUs(): number {
  return Math.round(performance.now() * 1000);
}

/** The relay's data for recipient `to`, about `size` bytes of JSON text, with the time's placeholder. */
export function dataText(to: string, size: number): string {
  const bare = `{"to":${JSON.stringify(to)},"t":"${T_MARK}","pad":""}`;
  return `{"to":${JSON.stringify(to)},"t":"${T_MARK}","pad":"${'x'.repeat(Math.max(0, size - bare.length))}"}`;
}

export class MessageTemplate {
  readonly #bytes: Buffer;
  readonly #idAt: number;
  readonly #tAt: number;

  /**
   * `text` holds the time's placeholder (from dataText) and may hold the id's, `"@@@@@@@@@@"`
   * (see idPlaceholder); with `framed`, the bytes get Bester's 4-byte length prefix.
   */
  constructor(text: string, framed: boolean) {
    const body = Buffer.from(text.replaceAll(ID_MARK, '0'.repeat(ID_DIGITS)).replaceAll(T_MARK, '0'.repeat(T_DIGITS)));
    const prefix = framed ? 4 : 0;
    this.#bytes = Buffer.allocUnsafe(prefix + body.length);
    if (framed) this.#bytes.writeUInt32LE(body.length, 0);
    body.copy(this.#bytes, prefix);
    const raw = Buffer.from(text);
    this.#idAt = raw.indexOf(ID_MARK) < 0 ? -1 : prefix + raw.indexOf(ID_MARK);
    this.#tAt = prefix + raw.indexOf(T_MARK);
    if (this.#tAt < prefix) throw new Error('template without the time placeholder');
  }

  static get idPlaceholder(): string {
    return ID_MARK;
  }

  /** A new buffer (the socket may still hold the previous one) with `seq` and `tUs` written in. */
  make(seq: number, tUs: number): Buffer {
    const out = Buffer.allocUnsafe(this.#bytes.length);
    this.#bytes.copy(out);
    if (this.#idAt >= 0) writeDigits(out, this.#idAt, ID_DIGITS, seq);
    writeDigits(out, this.#tAt, T_DIGITS, tUs);
    return out;
  }
}

function writeDigits(buf: Buffer | Uint8Array, at: number, width: number, value: number): void {
  let v = value;
  for (let i = at + width - 1; i >= at; i--) {
    buf[i] = ZERO + (v % 10);
    v = Math.floor(v / 10);
  }
}

/** The send time written by MessageTemplate.make, found in a received body; -1 if absent. */
export function readTimestampUs(body: Buffer | Uint8Array): number {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const at = bytes.indexOf(T_KEY);
  if (at < 0 || at + T_KEY.length + T_DIGITS > body.length) return -1;
  let v = 0;
  for (let i = at + T_KEY.length, end = i + T_DIGITS; i < end; i++) v = v * 10 + (body[i]! - ZERO);
  return v;
}
