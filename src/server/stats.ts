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
  readonly #logins = new Map<string, Count>();
  readonly #messages = new Map<string, Count>();

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

/** A count changed in place: one lookup per event (every message is one), not a get and a set. */
interface Count {
  n: number;
}

function bump(counts: Map<string, Count>, key: string): void {
  const count = counts.get(key);
  if (count === undefined) counts.set(key, { n: 1 });
  else count.n++;
}

function sorted(counts: Map<string, Count>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of [...counts.keys()].toSorted()) out[key] = counts.get(key)?.n ?? 0;
  return out;
}
