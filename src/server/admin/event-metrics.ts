// What the daemon counts, for Prometheus: counters and a histogram fed by the core's events
// (events.ts, STYLE.md #10), as stats.ts and event-log.ts are. A listener only bumps a number in a
// Map (tally.ts, latency-histogram.ts); prom-client sees the numbers when /metrics is scraped.
// docs/operations.md lists every metric.
import { Counter, type Registry } from 'prom-client';
import type { LoginOutcome, ServerEvents } from '../events.ts';
import { LatencyHistogram } from './latency-histogram.ts';
import { Tally } from './tally.ts';

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

export interface EventCounting {
  /** The handler latency histogram, written in the text format beside the registry's (latency-histogram.ts). */
  readonly latency: LatencyHistogram;
  /** Stops listening. */
  stop(): void;
}

/** Registers the counters on `registry` and starts feeding them from `events`. */
export function countEvents(registry: Registry, events: ServerEvents, bounds: LabelBounds): EventCounting {
  const registers = [registry];
  const typeLabel = (type: string): string => (bounds.knownType(type) ? type : OTHER_TYPE);
  let opened = 0;
  let expired = 0;
  const refused = new Tally();
  const closed = new Tally();
  const logins = new Tally();
  const messages = new Tally();
  const calls = new Tally();
  const recipients = new Tally();
  const reloads = new Tally();
  const latency = new LatencyHistogram(
    'bester_handler_call_duration_seconds',
    'How long handler calls took, answered or not, by handler type.',
    'type',
    CALL_BUCKETS_SECONDS,
  );

  const openedCounter: Counter = new Counter({
    name: 'bester_connections_opened_total',
    help: 'Streams that became sessions, on all listeners.',
    registers,
    collect: () => {
      openedCounter.reset();
      openedCounter.inc(opened);
    },
  });
  const refusedCounter: Counter<'code'> = new Counter({
    name: 'bester_connections_refused_total',
    help: 'Streams refused before anything was read from them (docs/protocol.md §2.5), by the code they were told.',
    labelNames: ['code'],
    registers,
    collect: () => refused.copyTo(refusedCounter, ['code']),
  });
  const closedCounter: Counter<'reason'> = new Counter({
    name: 'bester_connections_closed_total',
    help: 'Sessions that ended, by reason: the code they were told, or why they ended without one.',
    labelNames: ['reason'],
    registers,
    collect: () => closed.copyTo(closedCounter, ['reason']),
  });
  const loginsCounter: Counter<'outcome'> = new Counter({
    name: 'bester_logins_total',
    help: 'Logins decided, by outcome.',
    labelNames: ['outcome'],
    registers,
    collect: () => logins.copyTo(loginsCounter, ['outcome']),
  });
  const messagesCounter: Counter<'type' | 'outcome'> = new Counter({
    name: 'bester_messages_total',
    help: 'Client messages answered (docs/protocol.md §3.3), by type (configured handler types, else "other") and outcome ("good" or the code of the bad report).',
    labelNames: ['type', 'outcome'],
    registers,
    collect: () => messages.copyTo(messagesCounter, ['type', 'outcome']),
  });
  const callsCounter: Counter<'type' | 'outcome'> = new Counter({
    name: 'bester_handler_calls_total',
    help: 'Handler calls ended, by handler type and outcome ("ok": it answered; else the error code).',
    labelNames: ['type', 'outcome'],
    registers,
    collect: () => calls.copyTo(callsCounter, ['type', 'outcome']),
  });
  const recipientsCounter: Counter<'result'> = new Counter({
    name: 'bester_delivery_recipients_total',
    help: 'Recipients of sendClients results, by result: "queued" on a connection here, "kept" offline (§4.3.1), "undelivered".',
    labelNames: ['result'],
    registers,
    collect: () => recipients.copyTo(recipientsCounter, ['result']),
  });
  const expiredCounter: Counter = new Counter({
    name: 'bester_offline_expired_total',
    help: 'Kept deliveries removed after their TTL (§4.3.1).',
    registers,
    collect: () => {
      expiredCounter.reset();
      expiredCounter.inc(expired);
    },
  });

  const reloadsCounter: Counter<'outcome'> = new Counter({
    name: 'bester_config_reloads_total',
    help: 'Reloads of the configuration (SIGHUP, bester reload), by outcome: "applied", "refused" (the new config had errors; the running one was kept) or "failed".',
    labelNames: ['outcome'],
    registers,
    collect: () => reloads.copyTo(reloadsCounter, ['outcome']),
  });

  // Series that exist from the start, so that a first event is a change rate() can see.
  for (const outcome of LOGIN_OUTCOMES) logins.add(outcome, '', 0);
  for (const result of ['queued', 'kept', 'undelivered']) recipients.add(result, '', 0);
  for (const outcome of ['applied', 'refused', 'failed']) reloads.add(outcome, '', 0);
  for (const type of bounds.handlerTypes) {
    messages.add(type, 'good', 0);
    calls.add(type, 'ok', 0);
    latency.zero(type);
  }

  const off = [
    events.on('connection.opened', () => void opened++),
    events.on('connection.refused', (e) => refused.add(e.code)),
    events.on('connection.closed', (e) => closed.add(e.reason)),
    events.on('login', (e) => logins.add(e.outcome)),
    events.on('message.handled', (e) => messages.add(typeLabel(e.type), e.outcome)),
    events.on('handler.called', (e) => {
      const type = typeLabel(e.type);
      calls.add(type, e.code ?? 'ok');
      latency.observe(type, e.ms / 1000);
    }),
    events.on('delivery', (e) => {
      if (e.queued > 0) recipients.add('queued', '', e.queued);
      if (e.kept > 0) recipients.add('kept', '', e.kept);
      if (e.undelivered > 0) recipients.add('undelivered', '', e.undelivered);
    }),
    events.on('delivery.expired', (e) => void (expired += e.count)),
    events.on('config.reload', (e) => reloads.add(e.outcome)),
  ];
  return {
    latency,
    stop: () => {
      for (const stop of off) stop();
    },
  };
}
