// Password hashing with scrypt (docs/security.md: per-user salt, parameters stored with the hash, constant-time compare).
// Stored form: `scrypt$N=16384,r=8,p=1$<salt base64>$<hash base64>`, so the parameters can be raised later
// while old hashes keep verifying with the parameters they were made with.

import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  /** Block size. */
  readonly r: number;
  /** Parallelization. */
  readonly p: number;
}

export const DEFAULT_SCRYPT_PARAMS: ScryptParams = Object.freeze({ N: 16384, r: 8, p: 1 });
export const SALT_BYTES = 16;
export const KEY_BYTES = 32;

/**
 * Bounds on parameters read back from a stored hash: a corrupted or hostile row must not make
 * one login allocate gigabytes or spin for minutes.
 */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_MEMORY_BYTES = 512 * 1024 * 1024;

export interface ParsedHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Memory scrypt needs for these parameters (OpenSSL's estimate: 128·r·(N+2) + 128·r·p), plus slack. */
function maxmemFor({ N, r, p }: ScryptParams): number {
  return 128 * r * (N + 2 + p) + 1024 * 1024;
}

function scryptAsync(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, { ...params, maxmem: maxmemFor(params) }, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

function validParams(params: ScryptParams): boolean {
  const { N, r, p } = params;
  return (
    Number.isSafeInteger(N) && N > 1 && N <= MAX_N && (N & (N - 1)) === 0 &&
    Number.isSafeInteger(r) && r >= 1 && r <= MAX_R &&
    Number.isSafeInteger(p) && p >= 1 && p <= MAX_P &&
    maxmemFor(params) <= MAX_MEMORY_BYTES
  );
}

export function formatHash({ params, salt, hash }: ParsedHash): string {
  return `scrypt$N=${params.N},r=${params.r},p=${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const PARAMS = /^N=(\d{1,8}),r=(\d{1,3}),p=(\d{1,3})$/;

function decodeBase64(text: string, minBytes: number, maxBytes: number): Buffer | null {
  if (!BASE64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  // Reject anything Buffer decoded leniently (bad padding, stray bits): it must round-trip.
  if (bytes.toString('base64') !== text) return null;
  if (bytes.length < minBytes || bytes.length > maxBytes) return null;
  return bytes;
}

/** Parses a stored hash; null if it is not one we can check (never throws). */
export function parseHash(stored: string): ParsedHash | null {
  if (typeof stored !== 'string') return null;
  const parts = stored.split('$');
  if (parts.length !== 4 || parts[0] !== 'scrypt') return null;
  const match = PARAMS.exec(parts[1] ?? '');
  if (!match) return null;
  const params: ScryptParams = { N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  if (!validParams(params)) return null;
  const salt = decodeBase64(parts[2] ?? '', 8, 64);
  const hash = decodeBase64(parts[3] ?? '', 16, 64);
  if (!salt || !hash) return null;
  return { params, salt, hash };
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  if (!validParams(params)) throw new RangeError('invalid scrypt parameters');
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(password, salt, KEY_BYTES, params);
  return formatHash({ params, salt, hash });
}

/** True if `password` matches `stored`; false for a wrong password and for a malformed stored string. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed || typeof password !== 'string') return false;
  try {
    const candidate = await scryptAsync(password, parsed.salt, parsed.hash.length, parsed.params);
    return timingSafeEqual(candidate, parsed.hash);
  } catch {
    return false;
  }
}

/** True if `stored` was made with weaker parameters than `params` (or cannot be parsed): rehash after a login. */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): boolean {
  const parsed = parseHash(stored);
  if (!parsed) return true;
  const old = parsed.params;
  return old.N < params.N || old.r < params.r || old.p < params.p ||
    parsed.salt.length < SALT_BYTES || parsed.hash.length < KEY_BYTES;
}

/**
 * A well-formed hash no password matches in practice (zero salt, zero key), with the default
 * parameters: verifying against it costs the same as a real check, for unknown users.
 */
export const DUMMY_HASH: string = formatHash({
  params: DEFAULT_SCRYPT_PARAMS,
  salt: Buffer.alloc(SALT_BYTES),
  hash: Buffer.alloc(KEY_BYTES),
});
