// Catch-up (docs/scaling.md "Back from a cut"): a node cut off from Redis long enough for the others
// to take it for dead comes back with users who stayed connected to it. What the others kept for
// those users meanwhile (the offline queue) is written to them now, through the login flush's own
// path (flusher.ts: oldest first, each removed once written), not at their next login. While it
// runs, live deliveries to the sessions it writes to wait behind the kept ones (session.ts
// holdLive, offline-hold.ts: bounded by limits.maxOutboundBytes, a slow consumer past that).
import type { Logger } from '../log.ts';
import type { FlushTarget } from './offline-types.ts';

/** A logged-in connection as the catch-up sees it (session.ts). */
export interface CatchUpSession {
  /** Holds live deliveries from now on; the target writes ahead of them. Null when it cannot (not a client, held already). */
  holdLive(): FlushTarget | null;
  /** Writes what was held, then delivers live again. */
  releaseLive(): void;
}

export interface CatchUpOptions {
  /** The offline delivery (offline-delivery.ts): its flush, and waiting for a flush running for a user. */
  readonly offline: {
    flush(user: string, target: FlushTarget): Promise<boolean>;
    idle(user: string): Promise<void>;
  };
  /** The user's sessions connected here now (the registry). */
  readonly sessionsOf: (user: string) => Iterable<CatchUpSession>;
  readonly logger: Logger;
}

/** Users whose catch-up runs at once when many are asked for (each is a few Redis round trips). */
const CONCURRENCY = 8;
/** Tries when a login flush for the user keeps starting first (its connection gets what is kept then). */
const TRIES = 5;
/** Wait before trying again when the user's sessions here are all still in their login's hold. */
const HELD_RETRY_MS = 10;

/** A user's sessions held by a catch-up, and the targets that write ahead of what they hold. */
interface Held {
  readonly sessions: CatchUpSession[];
  readonly targets: FlushTarget[];
}

export class CatchUp {
  readonly #o: CatchUpOptions;
  /** Users a catch-up runs for; true when it must run once more (asked again meanwhile). */
  readonly #running = new Map<string, boolean>();
  #closed = false;

  constructor(options: CatchUpOptions) {
    this.#o = options;
  }

  /**
   * Catches up each of `users` still connected here, a few at a time. Their sessions hold live
   * deliveries from this call on, while `ready` settles (the node writes its sessions into presence
   * again, so live deliveries may come before the flush starts), and until each one's flush is done.
   * Never rejects.
   */
  async users(users: readonly string[], ready: Promise<unknown> = Promise.resolve()): Promise<void> {
    const held: Array<[string, Held]> = [];
    for (const user of users) {
      const h = this.#hold(user);
      if (h !== null) held.push([user, h]);
    }
    await ready.catch(() => undefined);
    const worker = async (): Promise<void> => {
      for (let next = held.shift(); next !== undefined; next = held.shift()) await this.user(next[0], next[1]);
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, held.length) }, worker));
  }

  /**
   * Writes what is kept for `user` to their sessions here (`held`: already holding). Asked again
   * while it runs (a kept notice came meanwhile), it runs once more after. Never rejects.
   */
  async user(user: string, held: Held | null = null): Promise<void> {
    if (this.#running.has(user) || this.#closed) {
      if (held !== null) release(held); // the run in progress holds its own sessions
      if (!this.#closed) this.#running.set(user, true);
      return;
    }
    this.#running.set(user, false);
    try {
      // Bounded: each run reads the queue to its end; more runs only follow more notices.
      for (let run = 0; run < 100; run++) {
        await this.#once(user, run === 0 ? held : null);
        if (this.#closed || this.#running.get(user) !== true) break;
        this.#running.set(user, false);
      }
    } catch (err) {
      this.#o.logger.error({ err, user }, 'catch-up failed; what is kept stays for the next login');
    } finally {
      if (held !== null) release(held); // once released it holds nothing: a second release does nothing
      this.#running.delete(user);
    }
  }

  /** No catch-up starts from now on (the daemon stops). */
  close(): void {
    this.#closed = true;
  }

  /** Holds live deliveries to `user`'s sessions here; null when none could be held. */
  #hold(user: string): Held | null {
    const held: Held = { sessions: [], targets: [] };
    for (const session of this.#o.sessionsOf(user)) {
      const target = session.holdLive();
      if (target === null) continue;
      held.sessions.push(session);
      held.targets.push(target);
    }
    return held.sessions.length === 0 ? null : held;
  }

  async #once(user: string, first: Held | null): Promise<void> {
    const { offline } = this.#o;
    let held = first;
    for (let i = 0; i < TRIES && !this.#closed; i++) {
      // A login flush running for the user: its new connection gets the kept ones; this runs after.
      await offline.idle(user);
      held ??= this.#hold(user);
      if (held === null) {
        if ([...this.#o.sessionsOf(user)].length === 0) return; // not connected here (any more)
        await new Promise((r) => setTimeout(r, HELD_RETRY_MS)); // a login's own hold, let go in a moment
        continue;
      }
      let ran: boolean;
      try {
        ran = await offline.flush(user, fanOut(held.targets));
      } finally {
        release(held);
      }
      if (ran) return;
      held = null;
    }
  }
}

/** Idempotent: the sessions are handed back once. */
function release(held: Held): void {
  for (const session of held.sessions.splice(0)) session.releaseLive();
}

/**
 * One flush target writing each frame to every one of `targets` (a user's sessions here: one
 * delivery per session, as a live one). Written once every target that took it reported, true if
 * any got it on the wire; refused (false) only when none took it.
 */
export function fanOut(targets: readonly FlushTarget[]): FlushTarget {
  const batch = Math.min(...targets.map((t) => t.batchBytes ?? Number.POSITIVE_INFINITY));
  const write = (frame: Buffer, written: (ok: boolean) => void): boolean => {
    let pending = 1; // this loop's own share, settled after it: a callback inside write() cannot end it early
    let ok = false;
    const settle = (one: boolean): void => {
      if (one) ok = true;
      if (--pending === 0) written(ok);
    };
    let took = 0;
    for (const target of targets) {
      pending++;
      if (target.write(frame, settle)) took++;
      else pending--;
    }
    if (took === 0) return false;
    settle(false);
    return true;
  };
  return Number.isFinite(batch) ? { write, batchBytes: batch } : { write };
}
