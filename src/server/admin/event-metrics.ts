// What the daemon counts, for Prometheus: counters and a histogram fed by the core's events
// (events.ts, STYLE.md #10), as stats.ts and event-log.ts are. Nothing here runs on the message path
// itself: each listener only bumps a counter. docs/operations.md lists every metric.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { LoginOutcome, ServerEvents } from '../events.ts';

export interface LabelBounds {
  /**
   * Whether `type` is a configured handler type. A client may send any type string, so message and
   * handler labels name configured types only and put every other under `other`.
   */
  knownType(type: string): boolean;
  /** The configured handler types, whose series start at 0 (so that rate() sees the first event). */
  readonly handlerTypes: readonly string[];
}

/** The label value for a message or handler type that is not configured. */
export const OTHER_TYPE = 'other';

const LOGIN_OUTCOMES: readonly LoginOutcome[] = ['ok', 'failed', 'throttled', 'busy', 'refused', 'error'];

/** Handler calls take from well under a millisecond to handlers.typeMap.T.timeoutMs (10 s by default). */
const CALL_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Registers the counters on `registry` and starts feeding them from `events`; returns the function that stops. */
export function countEvents(registry: Registry, events: ServerEvents, bounds: LabelBounds): () => void {
  const registers = [registry];
  const typeLabel = (type: string): string => (bounds.knownType(type) ? type : OTHER_TYPE);

  const opened = new Counter({ name: 'bester_connections_opened_total', help: 'Streams that became sessions, on all listeners.', registers });
  const refused = new Counter({
    name: 'bester_connections_refused_total',
    help: 'Streams refused before anything was read from them (docs/protocol.md §2.5), by the code they were told.',
    labelNames: ['code'],
    registers,
  });
  const closed = new Counter({
    name: 'bester_connections_closed_total',
    help: 'Sessions that ended, by reason: the code they were told, or why they ended without one.',
    labelNames: ['reason'],
    registers,
  });
  const logins = new Counter({ name: 'bester_logins_total', help: 'Logins decided, by outcome.', labelNames: ['outcome'], registers });
  const messages = new Counter({
    name: 'bester_messages_total',
    help: 'Client messages answered (docs/protocol.md §3.3), by type (configured handler types, else "other") and outcome ("good" or the code of the bad report).',
    labelNames: ['type', 'outcome'],
    registers,
  });
  const calls = new Counter({
    name: 'bester_handler_calls_total',
    help: 'Handler calls ended, by handler type and outcome ("ok": it answered; else the error code).',
    labelNames: ['type', 'outcome'],
    registers,
  });
  const latency = new Histogram({
    name: 'bester_handler_call_duration_seconds',
    help: 'How long handler calls took, answered or not, by handler type.',
    labelNames: ['type'],
    buckets: CALL_BUCKETS_SECONDS,
    registers,
  });
  const recipients = new Counter({
    name: 'bester_delivery_recipients_total',
    help: 'Recipients of sendClients results, by result: "queued" on a connection here, "kept" offline (§4.3.1), "undelivered".',
    labelNames: ['result'],
    registers,
  });
  const expired = new Counter({ name: 'bester_offline_expired_total', help: 'Kept deliveries removed after their TTL (§4.3.1).', registers });
  // Series that exist from the start, so that a first event is a change rate() can see.
  for (const outcome of LOGIN_OUTCOMES) logins.inc({ outcome }, 0);
  for (const result of ['queued', 'kept', 'undelivered']) recipients.inc({ result }, 0);
  for (const type of bounds.handlerTypes) {
    messages.inc({ type, outcome: 'good' }, 0);
    calls.inc({ type, outcome: 'ok' }, 0);
    latency.zero({ type });
  }

  const off = [
    events.on('connection.opened', () => opened.inc()),
    events.on('connection.refused', (e) => refused.inc({ code: e.code })),
    events.on('connection.closed', (e) => closed.inc({ reason: e.reason })),
    events.on('login', (e) => logins.inc({ outcome: e.outcome })),
    events.on('message.handled', (e) => messages.inc({ type: typeLabel(e.type), outcome: e.outcome })),
    events.on('handler.called', (e) => {
      const type = typeLabel(e.type);
      calls.inc({ type, outcome: e.code ?? 'ok' });
      latency.observe({ type }, e.ms / 1000);
    }),
    events.on('delivery', (e) => {
      if (e.queued > 0) recipients.inc({ result: 'queued' }, e.queued);
      if (e.kept > 0) recipients.inc({ result: 'kept' }, e.kept);
      if (e.undelivered > 0) recipients.inc({ result: 'undelivered' }, e.undelivered);
    }),
    events.on('delivery.expired', (e) => expired.inc(e.count)),
  ];
  return () => {
    for (const stop of off) stop();
  };
}
