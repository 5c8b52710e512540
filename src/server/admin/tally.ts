// Counts kept by the metrics' event listeners: a Map lookup per event (tens of nanoseconds), where a
// prom-client `inc` validates and hashes its labels on every call (hundreds). They are copied into
// prom-client's counters when /metrics is scraped, so the message path pays only for the lookup.
import type { Counter } from 'prom-client';

export class Tally {
  /** By the first label value, then by the second ('' when the counter has one label). */
  readonly #counts = new Map<string, Map<string, number>>();

  add(first: string, second = '', n = 1): void {
    let inner = this.#counts.get(first);
    if (inner === undefined) this.#counts.set(first, (inner = new Map<string, number>()));
    inner.set(second, (inner.get(second) ?? 0) + n);
  }

  /** Sets `counter` to these counts; `names` are its label names (one or two), in the order of add's arguments. */
  copyTo<T extends string>(counter: Counter<T>, names: readonly [T] | readonly [T, T]): void {
    counter.reset();
    const [firstName, secondName] = names;
    for (const [first, inner] of this.#counts) {
      for (const [second, n] of inner) {
        const labels = { [firstName]: first } as Partial<Record<T, string>>;
        if (secondName !== undefined) labels[secondName] = second;
        counter.inc(labels, n);
      }
    }
  }
}
