// Frames between Bester servers on an authenticated peer link (docs/federation.md).
// Every frame in both directions is sealed with HMAC-SHA256 over a canonical string made of the
// sender's node id, the receiver's node id, a timestamp, a random nonce, and the payload's JSON text.
// Pure: no I/O; the replay cache is a small class the caller keeps per peer.
import { createHash, createHmac, randomBytes, timingSafeEqual, webcrypto } from 'node:crypto';
import type { ErrorCode } from './errors.ts';
import { isObject, own, type JsonObject } from './json.ts';
import { jsonMemberSource } from './json-scan.ts';
import { JsonData, type JsonSource } from './json-text.ts';
import { LAZY_MIN_BYTES } from './frame.ts';
import { canonicalUsername } from './username.ts';

export const FEDERATION_VERSION = 1;
/** How far a frame's timestamp may be from our clock (ms). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** The `header.federation` block of a sealed frame. */
export interface Seal {
  readonly version: number;
  readonly from: string;
  readonly to: string;
  readonly ts: number;
  readonly nonce: string;
  readonly mac: string;
}

export interface SealedFrame {
  readonly header: { readonly scope?: 'server'; readonly federation: Seal };
  readonly payload: JsonObject;
}

function canonical(from: string, to: string, ts: number, nonce: string, payloadJson: string): string {
  return `bester-federation-v${FEDERATION_VERSION}\n${from}\n${to}\n${ts}\n${nonce}\n${payloadJson}`;
}

function mac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
}

/**
 * The MAC of `canonical(...)` fed in two parts: the payload (up to a MiB) is not copied into one
 * string; given as the frame's own bytes, it is not encoded to UTF-8 again either.
 */
function payloadMac(secret: string, s: Seal, payload: string | Buffer): string {
  const hmac = createHmac('sha256', secret).update(canonical(s.from, s.to, s.ts, s.nonce, ''), 'utf8');
  return (typeof payload === 'string' ? hmac.update(payload, 'utf8') : hmac.update(payload)).digest('hex');
}

/** Seals a payload from node `from` to node `to`. `scope: "server"` goes on the first frame of a link. */
export function seal(
  secret: string,
  from: string,
  to: string,
  payload: JsonObject,
  options: { first?: boolean; now?: number } = {},
): SealedFrame {
  const ts = options.now ?? Date.now();
  const nonce = randomBytes(16).toString('base64url');
  const text = canonical(from, to, ts, nonce, JSON.stringify(payload));
  const federation: Seal = { version: FEDERATION_VERSION, from, to, ts, nonce, mac: mac(secret, text) };
  return { header: options.first ? { scope: 'server', federation } : { federation }, payload };
}

export type Opened =
  | {
      readonly ok: true;
      readonly from: string;
      readonly payload: JsonObject;
      readonly seal: Seal;
      /** The payload's JSON text or bytes (what the MAC covers): its length bounds the memory the message takes. */
      readonly text: JsonSource;
      /** payloadDigest(text), when it was cheap to take here (from the frame's bytes). */
      readonly digest?: string;
    }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: string; readonly from: string | null };

/** Reads the seal of a parsed frame without checking it (to find which peer's secret applies). */
export function readSeal(frame: unknown): Seal | null {
  if (!isObject(frame)) return null;
  const header = own(frame, 'header');
  if (!isObject(header)) return null;
  const f = own(header, 'federation');
  if (!isObject(f)) return null;
  const version = own(f, 'version');
  const from = own(f, 'from');
  const to = own(f, 'to');
  const ts = own(f, 'ts');
  const nonce = own(f, 'nonce');
  const m = own(f, 'mac');
  if (typeof version !== 'number' || typeof from !== 'string' || typeof to !== 'string') return null;
  if (typeof ts !== 'number' || typeof nonce !== 'string' || typeof m !== 'string') return null;
  return { version, from, to, ts, nonce, mac: m };
}

/**
 * Checks a sealed frame: version, addressed to us, from the expected peer, timestamp within the
 * allowed skew, MAC correct (constant-time), nonce never seen (replay). Records the nonce.
 * `source`, the JSON text the frame was parsed from or its bytes, spares serialising the payload
 * again: the MAC is checked over the payload's own text in it (what a sender that writes
 * JSON.stringify's output sealed), and over the payload serialised again only if that does not match.
 */
export function open(
  frame: unknown,
  expected: { secret: string; self: string; peer: string; replay: ReplayCache; now?: number },
  source?: JsonSource,
): Opened {
  const s = readSeal(frame);
  if (s === null) return { ok: false, code: 'peer_auth_failed', reason: 'frame is not sealed', from: null };
  const fail = (reason: string, code: ErrorCode = 'peer_auth_failed'): Opened => ({ ok: false, code, reason, from: s.from });
  if (s.version !== FEDERATION_VERSION) return fail(`unsupported federation version ${s.version}`);
  if (s.from !== expected.peer) return fail(`frame claims to be from "${s.from}", expected "${expected.peer}"`);
  if (s.to !== expected.self) return fail(`frame is addressed to "${s.to}", not to this server ("${expected.self}")`);
  const framed = own(frame as JsonObject, 'payload');
  if (!isObject(framed)) return fail('sealed frame has no payload object');
  let payload: JsonObject = framed;
  const given = Buffer.from(s.mac, 'hex');
  const macMatches = (signed: string | Buffer): boolean => {
    const computed = Buffer.from(payloadMac(expected.secret, s, signed), 'hex');
    return computed.length === given.length && timingSafeEqual(computed, given);
  };
  // The payload's own text, or bytes when the frame's are given: the MAC and the fingerprint (§3.6) are taken over them.
  let text: JsonSource | undefined = source === undefined ? undefined : jsonMemberSource(source, ['payload']);
  let digest: string | undefined;
  if (text !== undefined && macMatches(text)) {
    if (typeof text !== 'string') digest = payloadDigest(text);
  } else {
    // The frame's payload whole (its data may have been left as bytes in `frame`: parseFrameText's lazy).
    const whole = source === undefined ? payload : own(JSON.parse(source.toString()) as JsonObject, 'payload');
    const serialised = JSON.stringify(whole);
    if (serialised === text || !isObject(whole) || !macMatches(serialised)) return fail('bad MAC (wrong shared secret, or the frame was altered)');
    text = serialised;
    payload = whole;
  }
  const now = expected.now ?? Date.now();
  if (Math.abs(now - s.ts) > MAX_CLOCK_SKEW_MS) return fail(`timestamp ${s.ts} is more than ${MAX_CLOCK_SKEW_MS / 1000} s from this server's clock`, 'peer_replay');
  if (!expected.replay.remember(s.nonce, s.ts, now)) return fail('nonce seen before: a replayed frame', 'peer_replay');
  return digest === undefined ? { ok: true, from: s.from, payload, seal: s, text } : { ok: true, from: s.from, payload, seal: s, text, digest };
}

/**
 * Nonces seen within the allowed clock skew. A frame older than the window is refused by its
 * timestamp, so nonces older than that can be forgotten: memory is bounded by the frame rate.
 */
export class ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  constructor(maxEntries = 1_000_000) {
    this.#max = maxEntries;
  }

  /** False if the nonce was seen already (a replay). */
  remember(nonce: string, ts: number, now: number): boolean {
    if (this.#seen.has(nonce)) return false;
    if (this.#seen.size >= this.#max) this.prune(now);
    if (this.#seen.size >= this.#max) return false; // flooded: refuse rather than forget
    this.#seen.set(nonce, ts);
    return true;
  }

  prune(now: number): void {
    for (const [nonce, ts] of this.#seen) {
      if (Math.abs(now - ts) > MAX_CLOCK_SKEW_MS) this.#seen.delete(nonce);
    }
  }

  get size(): number {
    return this.#seen.size;
  }
}

// Payload kinds on a link (payload.type). Messages carry their own message type; these are control.
export const HELLO = 'bester.hello';
export const WELCOME = 'bester.welcome';
export const ACK = 'bester.ack';
export const PING = 'bester.ping';
export const PONG = 'bester.pong';

/** Ack statuses (§3.3): processed now, processed before, or refused by the receiver (never processed). */
export type AckStatus = 'ok' | 'duplicate' | 'refused';

/**
 * A message's fingerprint (§3.6): the first 128 bits of SHA-256 over its payload's JSON text. The
 * receiver keeps the fingerprint of the last message it processed beside its seq and names both in
 * its welcome; the sender checks them against what it sent under that seq, so that sequence numbers
 * rewound by a restore, or pushed ahead by a peer, are detected instead of trusted.
 */
export function payloadDigest(text: string | Buffer): string {
  const hash = createHash('sha256');
  return (typeof text === 'string' ? hash.update(text, 'utf8') : hash.update(text)).digest('hex').slice(0, 32);
}

/** Texts from this length on are hashed on libuv's thread pool by payloadDigestAsync. */
const POOL_HASH_LENGTH = 64 * 1024;

/**
 * payloadDigest without holding the event loop for a big text (a MiB takes a few ms): WebCrypto
 * hashes on the thread pool; only the UTF-8 copy is made here. Small texts are hashed at once.
 */
export async function payloadDigestAsync(text: JsonSource): Promise<string> {
  if (text.length < POOL_HASH_LENGTH) return payloadDigest(text);
  const hash = await webcrypto.subtle.digest('SHA-256', typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  return Buffer.from(hash, 0, 16).toString('hex');
}

/** The receiver's limits and window as its welcome states them (§3.1); absent fields: the sender's own. */
export interface WelcomeTerms {
  readonly lastSeq: number;
  /** Fingerprint of message `lastSeq` ('' when unknown: nothing processed yet, or an older receiver). */
  readonly digest: string;
  /** Messages it reads before an acknowledgement (its maxInFlight); null when not stated. */
  readonly window: number | null;
  /** Largest frame it reads on a link (its limits.maxHandlerFrameBytes); null when not stated. */
  readonly maxFrameBytes: number | null;
  /** Deepest JSON nesting it reads (its limits.maxJsonDepth); null when not stated. */
  readonly maxJsonDepth: number | null;
}

export function readWelcome(payload: JsonObject): WelcomeTerms | null {
  const lastSeq = own(payload, 'lastSeq');
  if (typeof lastSeq !== 'number' || !Number.isSafeInteger(lastSeq) || lastSeq < 0) return null;
  const digest = own(payload, 'digest');
  const positive = (key: string): number | null => {
    const v = own(payload, key);
    return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null;
  };
  return {
    lastSeq,
    digest: typeof digest === 'string' ? digest : '',
    window: positive('window'),
    maxFrameBytes: positive('maxFrameBytes'),
    maxJsonDepth: positive('maxJsonDepth'),
  };
}

/**
 * Why a peer's `sender` cannot be taken as a user name (docs/federation.md §3.2), or null: it must be
 * a username in its canonical form (docs/protocol.md §2.6), as its origin server's login made it.
 */
export function senderProblem(sender: string | null): string | null {
  if (sender === null) return null;
  const canonical = canonicalUsername(sender);
  if (!canonical.ok) return `sender ${JSON.stringify(sender)} is not a username: ${canonical.reason}`;
  if (canonical.name !== sender) return `sender ${JSON.stringify(sender)} is not in canonical form (${JSON.stringify(canonical.name)})`;
  return null;
}

/** Nesting depth of objects and arrays in a value, counting stops once it passes `limit`. */
export function valueDepth(value: unknown, limit: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (limit <= 0) return 1;
  let deepest = 0;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    deepest = Math.max(deepest, valueDepth(child, limit - 1));
    if (deepest >= limit) break;
  }
  return 1 + deepest;
}

/** A forwarded message on a link (docs/federation.md §3). */
export interface PeerMessage {
  readonly type: string;
  readonly id: string;
  /** With its own text from the frame when read with it: passed on to the handler without serialising it again. */
  readonly data: JsonData;
  /** The server where the message entered the federation (loop detection). */
  readonly origin: string;
  /** Sequence number on the link from the sending server (dedup and order). */
  readonly seq: number;
  /** Servers this message has crossed so far, counting this hop. */
  readonly hops: number;
  /** The user who sent the original message, as its origin server vouches. */
  readonly sender: string | null;
}

/** Reads a message payload; `text` is the payload's JSON text or bytes (Opened.text), whose `data` slice the message keeps. */
export function readPeerMessage(payload: JsonObject, text?: JsonSource): PeerMessage | null {
  const type = own(payload, 'type');
  const id = own(payload, 'id');
  const origin = own(payload, 'origin');
  const seq = own(payload, 'seq');
  const hops = own(payload, 'hops');
  const sender = own(payload, 'sender');
  if (typeof type !== 'string' || type === '' || typeof id !== 'string' || typeof origin !== 'string') return null;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return null;
  if (typeof hops !== 'number' || !Number.isSafeInteger(hops) || hops < 1) return null;
  if (sender !== null && sender !== undefined && typeof sender !== 'string') return null;
  const value = own(payload, 'data');
  const dataSource = value === undefined || text === undefined ? undefined : jsonMemberSource(text, ['data']);
  // Only the text is kept: a message waits in the link's queue and its handler reads the text;
  // the value, parsed once already, is dropped now rather than kept beside it (docs/federation.md §3.3).
  // Big data stays the frame's bytes (a view: the frame is not copied); small data is decoded, so
  // that it does not keep the socket chunk it was read in.
  let data: JsonData;
  if (dataSource === undefined) data = new JsonData(value ?? null);
  else if (typeof dataSource !== 'string' && dataSource.length < LAZY_MIN_BYTES) data = JsonData.ofSource(dataSource.toString('utf8'));
  else data = JsonData.ofSource(dataSource);
  return { type, id, data, origin, seq, hops, sender: sender ?? null };
}
