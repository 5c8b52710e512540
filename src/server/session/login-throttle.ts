// Failed logins, throttled per remote address and per username (docs/protocol.md §2.5): a sliding
// window of failures per key; a key that reaches its maximum is refused for `blockMs` without the
// password being checked. FailedLoginThrottle is what the login step uses; LoginThrottle here keeps
// the counts in memory, bounded: old entries are pruned and at most `maxKeys` keys are kept per
// kind (the oldest go first). A cluster on Redis shares them (redis/login-throttle.ts).
//
// Failures are counted when the check ends. Logins being checked at the moment a key reaches its
// maximum still finish; how many run at once per address is bounded by
// limits.maxUnauthenticatedPerAddress.
import type { LoginFailureLimits } from '../config/types.ts';

export interface ThrottleRefusal {
  /** Which limit refused it. */
  readonly by: 'address' | 'user';
  /** Milliseconds until attempts are accepted again. */
  readonly retryAfterMs: number;
}

/** The failed-login throttle as the login step sees it: in memory (LoginThrottle) or shared (Redis). */
export interface FailedLoginThrottle {
  /** Before the password is checked: the refusal, or null when the attempt may go ahead. */
  check(address: string | null, user: string | null): ThrottleRefusal | null | Promise<ThrottleRefusal | null>;
  /** Failed logins from `address` within the window, as this daemon knows them (orders the login queue). */
  failuresOf(address: string | null): number;
  /** A login failed: counted for both keys. */
  failed(address: string | null, user: string | null): void | Promise<void>;
  /** The password was right: the user's failures are cleared. */
  succeeded(user: string): void | Promise<void>;
  /** A reload changed limits.loginFailures. */
  reconfigure(limits: LoginFailureLimits): void;
}

export interface LoginThrottleOptions {
  readonly limits: LoginFailureLimits;
  /** Keys tracked per kind (addresses, users). Default 100,000. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

interface Entry {
  /** Failure times within the window, oldest first; never more than the maximum. */
  failures: number[];
  /** While in the future, every attempt is refused; once passed, the key starts over. */
  blockedUntil: number;
}

class Window {
  readonly #entries = new Map<string, Entry>();
  #max: number;
  #limits: LoginFailureLimits;
  readonly #maxKeys: number;
  #lastSweep = 0;

  constructor(max: number, limits: LoginFailureLimits, maxKeys: number) {
    this.#max = max;
    this.#limits = limits;
    this.#maxKeys = maxKeys;
  }

  /** A reload changed the limits: failures already counted stay, judged by the new ones. */
  reconfigure(max: number, limits: LoginFailureLimits): void {
    this.#max = max;
    this.#limits = limits;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Milliseconds until `key` may try again, or 0 when it may try now. */
  refusal(key: string, now: number): number {
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    if (entry.blockedUntil > now) return entry.blockedUntil - now;
    if (entry.blockedUntil !== 0) {
      // The block was served: start over.
      entry.blockedUntil = 0;
      entry.failures = [];
      return 0;
    }
    this.#prune(entry, now);
    if (entry.failures.length < this.#max) return 0;
    entry.blockedUntil = now + this.#limits.blockMs;
    return this.#limits.blockMs;
  }

  /** Failures of `key` within the window now. */
  count(key: string, now: number): number {
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    this.#prune(entry, now);
    return entry.failures.length;
  }

  record(key: string, now: number): void {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      this.#makeRoom(now);
      entry = { failures: [], blockedUntil: 0 };
    } else this.#entries.delete(key); // re-inserted below: the Map's order is least recently failed first
    this.#entries.set(key, entry);
    this.#prune(entry, now);
    if (entry.failures.length < this.#max) entry.failures.push(now);
  }

  clear(key: string): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry.blockedUntil === 0) this.#entries.delete(key);
  }

  #prune(entry: Entry, now: number): void {
    const from = now - this.#limits.windowMs;
    let drop = 0;
    while (drop < entry.failures.length && (entry.failures[drop] ?? 0) <= from) drop++;
    if (drop > 0) entry.failures.splice(0, drop);
  }

  /** Before adding a key: sweep expired entries now and then, and drop the oldest when full. */
  #makeRoom(now: number): void {
    const sweepEvery = Math.min(this.#limits.windowMs, 1000);
    if (this.#entries.size >= this.#maxKeys && now - this.#lastSweep >= sweepEvery) this.#sweep(now);
    else if (now - this.#lastSweep >= this.#limits.windowMs) this.#sweep(now);
    while (this.#entries.size >= this.#maxKeys) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [key, entry] of this.#entries) {
      this.#prune(entry, now);
      if (entry.blockedUntil <= now && entry.failures.length === 0) this.#entries.delete(key);
    }
  }
}

export class LoginThrottle implements FailedLoginThrottle {
  readonly #byAddress: Window;
  readonly #byUser: Window;
  readonly #now: () => number;

  constructor(options: LoginThrottleOptions) {
    const maxKeys = options.maxKeys ?? 100_000;
    this.#byAddress = new Window(options.limits.maxPerAddress, options.limits, maxKeys);
    this.#byUser = new Window(options.limits.maxPerUser, options.limits, maxKeys);
    this.#now = options.now ?? Date.now;
  }

  /** A reload changed limits.loginFailures. */
  reconfigure(limits: LoginFailureLimits): void {
    this.#byAddress.reconfigure(limits.maxPerAddress, limits);
    this.#byUser.reconfigure(limits.maxPerUser, limits);
  }

  /** Keys tracked now (for tests and diagnostics). */
  get size(): { addresses: number; users: number } {
    return { addresses: this.#byAddress.size, users: this.#byUser.size };
  }

  /**
   * Called before the password is checked: the refusal, or null when the attempt may go ahead.
   * `address` null: not limited per address (local UNIX connections); `user` null: no well-formed
   * username (limited per address only).
   */
  check(address: string | null, user: string | null): ThrottleRefusal | null {
    const now = this.#now();
    const byAddress = address === null ? 0 : this.#byAddress.refusal(address, now);
    if (byAddress > 0) return { by: 'address', retryAfterMs: byAddress };
    const byUser = user === null ? 0 : this.#byUser.refusal(user, now);
    if (byUser > 0) return { by: 'user', retryAfterMs: byUser };
    return null;
  }

  /** Failed logins from `address` within the window now (0 for null: local connections). */
  failuresOf(address: string | null): number {
    return address === null ? 0 : this.#byAddress.count(address, this.#now());
  }

  /** A login failed (wrong password, unknown user, empty fields): counted for both keys. */
  failed(address: string | null, user: string | null): void {
    const now = this.#now();
    if (address !== null) this.#byAddress.record(address, now);
    if (user !== null) this.#byUser.record(user, now);
  }

  /** The password was right: the user's failures are cleared. The address's count stays (other users). */
  succeeded(user: string): void {
    this.#byUser.clear(user);
  }
}

/** The `reason` of a `login_throttled` answer: says which limit, and when to try again. */
export function throttledReason(refusal: ThrottleRefusal): string {
  const seconds = Math.ceil(refusal.retryAfterMs / 1000);
  const whose = refusal.by === 'address' ? 'from this address' : 'for this username';
  return `too many failed logins ${whose}; try again in ${seconds} s`;
}
