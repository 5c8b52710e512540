// Why connections ended, counted (docs/protocol.md §9.4.3, `closes` in serverInfo). Every connection
// the daemon closes is counted once under its reason: the code it sent before closing (§7), or one
// of the names below for closes without an error. The informer shows a snapshot.
import type { ErrorCode } from '../../protocol/errors.ts';

export type CloseReason =
  | ErrorCode
  /** The client asked for it (`builtin` close, §5.2). */
  | 'client_close'
  /** The other side hung up (end of stream, reset) without being told to. */
  | 'peer_closed'
  /** A legacy server-scope connection after its one message (§6.2). */
  | 'server_message_done'
  /** A federation peer link closed by its link logic (its own counters say why, docs/federation.md §8). */
  | 'peer_link_closed'
  /** Closed by code embedding the server (`session.close()` without a reason). */
  | 'closed_by_server';

export class CloseCounters {
  readonly #counts = new Map<CloseReason, number>();

  count(reason: CloseReason): void {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1);
  }

  get(reason: CloseReason): number {
    return this.#counts.get(reason) ?? 0;
  }

  /** `{"login_timeout": 3, ...}`, reasons in alphabetical order; only reasons seen so far. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const reason of [...this.#counts.keys()].toSorted()) out[reason] = this.#counts.get(reason) ?? 0;
    return out;
  }
}
