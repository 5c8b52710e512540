// The counters in serverInfo (docs/protocol.md §9.4.3), kept by listening to the core's events
// (events.ts): closes by reason, logins by outcome, messages by outcome.
import type { ServerEvents } from './events.ts';
import { CloseCounters } from './session/close-counters.ts';

export interface StatsSnapshot {
  readonly closes: Record<string, number>;
  readonly logins: Record<string, number>;
  readonly messages: Record<string, number>;
}

export class Stats {
  readonly closes = new CloseCounters();
  readonly #logins = new Map<string, number>();
  readonly #messages = new Map<string, number>();

  /** Starts counting `events`; returns the function that stops. */
  listen(events: ServerEvents): () => void {
    const off = [
      events.on('connection.closed', (e) => this.closes.count(e.reason)),
      events.on('connection.refused', (e) => this.closes.count(e.code)),
      events.on('login', (e) => bump(this.#logins, e.outcome)),
      events.on('message.handled', (e) => bump(this.#messages, e.outcome)),
    ];
    return () => {
      for (const stop of off) stop();
    };
  }

  /** Logins and client messages by outcome (serverInfo, docs/protocol.md §9.4.3). */
  activity(): Pick<StatsSnapshot, 'logins' | 'messages'> {
    return { logins: sorted(this.#logins), messages: sorted(this.#messages) };
  }

  snapshot(): StatsSnapshot {
    return { closes: this.closes.snapshot(), logins: sorted(this.#logins), messages: sorted(this.#messages) };
  }
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function sorted(counts: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of [...counts.keys()].toSorted()) out[key] = counts.get(key) ?? 0;
  return out;
}
