// The daemon's Prometheus metrics (docs/operations.md, "Metrics and health"): one prom-client
// Registry per daemon, never the global one, so that several daemons in one process (tests,
// embedders) do not clash. Counted from the core's events (event-metrics.ts), read from the server
// when scraped (state-metrics.ts), and the process and Node.js metrics prom-client collects itself;
// the handler latency histogram writes its own lines (latency-histogram.ts).
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { ServerEvents } from '../events.ts';
import { countEvents, type EventCounting, type LabelBounds } from './event-metrics.ts';
import { collectState, type StateSource } from './state-metrics.ts';

export interface MetricsSource extends LabelBounds, StateSource {
  readonly events: ServerEvents;
}

export class ServerMetrics {
  readonly #registry = new Registry();
  readonly #counting: EventCounting;

  /** Counting starts at once: create it before the listeners open, so that no connection is missed. */
  constructor(source: MetricsSource) {
    // process_* (CPU, memory, open fds, start time) and nodejs_* (event-loop lag, heap, GC, handles).
    collectDefaultMetrics({ register: this.#registry });
    collectState(this.#registry, source);
    this.#counting = countEvents(this.#registry, source.events, source);
  }

  /** The Content-Type of text(): Prometheus text exposition format 0.0.4. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Every metric, in the Prometheus text format; the gauges are read from the server now. */
  async text(): Promise<string> {
    const registered = await this.#registry.metrics();
    return `${registered}\n${this.#counting.latency.text()}`;
  }

  /** Stops counting the core's events. Idempotent. */
  stop(): void {
    this.#counting.stop();
  }
}
