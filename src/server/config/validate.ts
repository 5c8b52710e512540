// Building blocks for the config validator: key paths, value descriptions, and a Checker that
// collects every error and warning instead of stopping at the first (docs/configuration.md).
import path from 'node:path';

/** The largest socket path Linux accepts: sun_path is 108 bytes including the final NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Largest value accepted for a millisecond or byte count: setTimeout overflows above it. */
export const MAX_INT = 2_147_483_647;

export type RawObject = Record<string, unknown>;

/** `handlers.typeMap.chat`, `network.types[1]`, `handlers.typeMap["a.b"]`. */
export function keyPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (/^[A-Za-z0-9_$-]+$/.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** A short description of a value for "got ..." in messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': {
      const text = JSON.stringify(value);
      return text.length > 62 ? `${text.slice(0, 60)}..."` : text;
    }
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

export function isObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An own property only: never `__proto__` or `constructor` from the prototype chain. */
export function own(obj: RawObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlChars(text: string): boolean {
  return CONTROL.test(text);
}

interface SocketEntry {
  readonly key: string;
  readonly path: string;
}

export class Checker {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  readonly baseDir: string;
  readonly #sockets: SocketEntry[] = [];

  constructor(baseDir: string) {
    this.baseDir = baseDir;
  }

  error(key: string, message: string): void {
    this.errors.push(`${key}: ${message}`);
  }

  warn(key: string, message: string): void {
    this.warnings.push(`${key}: ${message}`);
  }

  /** Warns about every key of `obj` not in `known` (forward-compatible, but typos stay visible). */
  unknownKeys(obj: RawObject, key: string, known: readonly string[]): void {
    for (const name of Object.keys(obj)) {
      if (!known.includes(name)) this.warn(keyPath(key, name), 'unknown key (ignored)');
    }
  }

  /** The block at `key`, or undefined when absent or (after an error) not an object. */
  block(value: unknown, key: string): RawObject | undefined {
    if (value === undefined) return undefined;
    if (isObject(value)) return value;
    this.error(key, `must be an object, got ${describe(value)}`);
    return undefined;
  }

  /** An integer in [min, max]; the fallback when absent or invalid. */
  integer(value: unknown, key: string, fallback: number, min = 1, max = MAX_INT): number {
    if (value === undefined) return fallback;
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    const what = min === 1 ? 'a positive integer' : 'an integer';
    this.error(key, `must be ${what} (${min}-${max}), got ${describe(value)}`);
    return fallback;
  }

  boolean(value: unknown, key: string, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value === 'boolean') return value;
    this.error(key, `must be true or false, got ${describe(value)}`);
    return fallback;
  }

  /** A non-empty string without control characters, or undefined after an error. */
  text(value: unknown, key: string, what = 'a non-empty string'): string | undefined {
    if (typeof value !== 'string' || value === '') {
      this.error(key, `must be ${what}, got ${describe(value)}`);
      return undefined;
    }
    if (hasControlChars(value)) {
      this.error(key, `must not contain control characters, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** One of `allowed`, or the fallback after an error. */
  oneOf<T extends string>(value: unknown, key: string, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback;
    const found = allowed.find((item) => item === value);
    if (found !== undefined) return found;
    this.error(key, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${describe(value)}`);
    return fallback;
  }

  /** A file path resolved from the config's folder. */
  filePath(value: unknown, key: string): string | undefined {
    const text = this.text(value, key, 'a path (a non-empty string)');
    return text === undefined ? undefined : path.resolve(this.baseDir, text);
  }

  /**
   * A UNIX socket path resolved from the config's folder. Registered so that `checkSockets`
   * can report two sockets sharing one path.
   */
  socketPath(value: unknown, key: string): string | undefined {
    const resolved = this.filePath(value, key);
    if (resolved === undefined) return undefined;
    const bytes = Buffer.byteLength(resolved);
    if (bytes > MAX_SOCKET_PATH_BYTES) {
      this.error(
        key,
        `socket path is ${bytes} bytes after resolving (${describe(resolved)}); UNIX sockets allow at most ` +
          `${MAX_SOCKET_PATH_BYTES}: use a shorter path`,
      );
      return resolved;
    }
    this.#sockets.push({ key, path: resolved });
    return resolved;
  }

  /** Reports every socket path used twice (listener, handlers, informer). */
  checkSockets(): void {
    const seen = new Map<string, string>();
    for (const entry of this.#sockets) {
      const first = seen.get(entry.path);
      if (first === undefined) seen.set(entry.path, entry.key);
      else this.error(entry.key, `same socket path as ${first} (${describe(entry.path)})`);
    }
  }
}
