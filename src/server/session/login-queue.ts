// Password checks are the costly part of a login (scrypt: 16 MiB and tens of milliseconds on the
// thread pool), so the queue of checks is the resource a login flood attacks (docs/protocol.md §2.5,
// docs/security.md). Bounded and fair:
//   - at most `maxRunning` checks run at once, at most `maxWaiting` wait, and one address (one
//     IPv6 /64; every UNIX-socket connection counts as the key "local") holds at most
//     `maxPerAddress` of them, running or waiting;
//   - the next check to run is the one whose address has the fewest recent failed logins, then
//     the fewest checks held, then the oldest: a fresh address is not stuck behind a flood;
//   - when the queue is full, a newcomer that ranks better than the worst waiting check takes its
//     place (that one is answered busy); otherwise the newcomer is answered busy, at once;
//   - a check whose connection closed while it waited is dropped, never run.
import type { LoginQueueLimits } from '../config/types.ts';

/** What a check that could not run became. */
export type NotRun = 'busy' | 'gone';

interface Job {
  readonly key: string;
  readonly seq: number;
  readonly alive: () => boolean;
  readonly start: () => void;
  readonly refuse: (why: NotRun) => void;
}

export class LoginQueue {
  #limits: LoginQueueLimits;
  /** Recent failed logins of an address key: lower runs first. */
  readonly #failures: (key: string) => number;
  readonly #waiting: Job[] = [];
  /** Checks running or waiting, per key. */
  readonly #perKey = new Map<string, number>();
  #running = 0;
  #seq = 0;

  constructor(limits: LoginQueueLimits, failures: (key: string) => number = () => 0) {
    this.#limits = limits;
    this.#failures = failures;
  }

  /**
   * A reload changed limits.loginChecks: they apply to the next check. Checks already waiting keep
   * their place; with a higher maxRunning the ones waiting start now.
   */
  reconfigure(limits: LoginQueueLimits): void {
    this.#limits = limits;
    this.#pump();
  }

  /** Checks running now, and waiting (diagnostics, tests). */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  /**
   * Runs `check` in its turn; resolves with its result, or with 'busy' (no room: answer at once)
   * or 'gone' (`alive()` was false when its turn came: the connection closed). `check` must not
   * reject (wrap it); it is called at most once.
   */
  run<T>(key: string, alive: () => boolean, check: () => Promise<T>): Promise<T | NotRun> {
    const held = this.#perKey.get(key) ?? 0;
    if (held >= this.#limits.maxPerAddress) return Promise.resolve('busy');
    const { promise, resolve } = Promise.withResolvers<T | NotRun>();
    const job: Job = {
      key,
      seq: this.#seq++,
      alive,
      start: () => {
        check().then(resolve, resolve as (err: unknown) => void).finally(() => this.#finished(key));
      },
      refuse: (why) => {
        this.#release(key);
        resolve(why);
      },
    };
    if (this.#running < this.#limits.maxRunning && this.#waiting.length === 0) {
      this.#take(key);
      this.#running++;
      job.start();
      return promise;
    }
    if (this.#waiting.length >= this.#limits.maxWaiting && !this.#makeRoomFor(job)) return Promise.resolve('busy');
    this.#take(key);
    this.#waiting.push(job);
    this.#pump();
    return promise;
  }

  #take(key: string): void {
    this.#perKey.set(key, (this.#perKey.get(key) ?? 0) + 1);
  }

  #release(key: string): void {
    const held = (this.#perKey.get(key) ?? 0) - 1;
    if (held > 0) this.#perKey.set(key, held);
    else this.#perKey.delete(key);
  }

  #finished(key: string): void {
    this.#running--;
    this.#release(key);
    this.#pump();
  }

  #pump(): void {
    while (this.#running < this.#limits.maxRunning && this.#waiting.length > 0) {
      const at = this.#best();
      const job = this.#waiting.splice(at, 1)[0]!;
      if (!job.alive()) {
        job.refuse('gone');
        continue;
      }
      this.#running++;
      job.start();
    }
  }

  /** The waiting check that runs next: best rank (fewest failures, then fewest held), then oldest. */
  #best(): number {
    let best = 0;
    let bestRank: readonly [number, number] = [Number.POSITIVE_INFINITY, 0];
    this.#waiting.forEach((job, i) => {
      const rank = this.#rank(job);
      if (worse(bestRank, rank)) {
        best = i;
        bestRank = rank;
      }
    });
    return best;
  }

  /** The queue is full: evict the worst waiting check if the newcomer ranks better. */
  #makeRoomFor(newcomer: Job): boolean {
    // Gone ones first: they cost nothing to drop.
    const gone = this.#waiting.findIndex((job) => !job.alive());
    if (gone !== -1) {
      this.#waiting.splice(gone, 1)[0]!.refuse('gone');
      return true;
    }
    let worst = -1;
    let worstRank: readonly [number, number] = this.#rank(newcomer);
    this.#waiting.forEach((job, i) => {
      const rank = this.#rank(job);
      if (worse(rank, worstRank)) {
        worst = i;
        worstRank = rank;
      }
    });
    if (worst === -1) return false;
    this.#waiting.splice(worst, 1)[0]!.refuse('busy');
    return true;
  }

  /** The address's recent failures, then how many checks it holds already. */
  #rank(job: Job): readonly [number, number] {
    return [this.#failures(job.key), this.#perKey.get(job.key) ?? 0];
  }
}

/** Whether rank `a` is strictly worse (later to run, first to evict) than `b`. */
function worse(a: readonly [number, number], b: readonly [number, number]): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}
