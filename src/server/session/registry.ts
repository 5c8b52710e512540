// Who is connected as which user, on this server (docs/protocol.md §2.4).
// A user may hold several connections; a closed connection is forgotten at once.
import type { OutFrame } from '../../protocol/frame.ts';

export interface Recipient {
  /** Queues one encoded frame; false if the connection is closing. */
  sendFrame(frame: OutFrame): boolean;
}

export class SessionRegistry<S extends Recipient = Recipient> {
  readonly #byUser = new Map<string, Set<S>>();

  add(username: string, session: S): void {
    let set = this.#byUser.get(username);
    if (!set) {
      set = new Set();
      this.#byUser.set(username, set);
    }
    set.add(session);
  }

  remove(username: string, session: S): void {
    const set = this.#byUser.get(username);
    if (!set) return;
    set.delete(session);
    if (set.size === 0) this.#byUser.delete(username);
  }

  /**
   * The one fan-out loop (docs/protocol.md §4.3.1): queues `frame` on every open connection of
   * `username`. True if at least one took it. Never waits on a socket.
   */
  sendTo(username: string, frame: OutFrame): boolean {
    const set = this.#byUser.get(username);
    if (set === undefined) return false;
    let reached = false;
    for (const session of set) if (session.sendFrame(frame)) reached = true;
    return reached;
  }

  /** Every open connection of a user (empty if offline). */
  connectionsOf(username: string): ReadonlySet<S> {
    return this.#byUser.get(username) ?? EMPTY;
  }

  isOnline(username: string): boolean {
    return this.#byUser.has(username);
  }

  /** Users online now, each once. */
  users(): string[] {
    return [...this.#byUser.keys()];
  }

  /** Number of open client connections (a user connected twice counts twice). */
  get connectionCount(): number {
    let n = 0;
    for (const set of this.#byUser.values()) n += set.size;
    return n;
  }

  all(): S[] {
    const out: S[] = [];
    for (const set of this.#byUser.values()) out.push(...set);
    return out;
  }
}

const EMPTY: ReadonlySet<never> = new Set();
