// What a generator process's drivers count while a run goes on, and what they give it to run.
import { Histogram } from './measure.ts';

/** Passed to bench/generator.ts as its one argument (JSON). */
export interface GeneratorConfig {
  /** frames: length-prefixed over TCP; ws: the same frames as WebSocket messages (path /bester). */
  kind: 'frames' | 'ws' | 'nats';
  port: number;
  /** Frames over TLS, trusting this CA (PEM). */
  tls?: { ca: string };
  /** Several nodes: sender i connects to ports[i % n], its receiver to ports[(i + 1) % n]. */
  ports?: number[];
  /** The pairs this process drives: senders s<i> and receivers r<i> for from <= i < to. */
  from: number;
  to: number;
  window: number;
  size: number;
  seconds: number;
}

export class GeneratorState {
  /** Replaced at the start of the timed window: the warm-up's latencies are not counted. */
  latencies = new Histogram();
  /** Senders send a new message for each acknowledgement while this is true. */
  sending = true;
  sent = 0;
  acknowledged = 0;
  /** Status reports other than good: the message was refused and will not be delivered. */
  refused = 0;
  delivered = 0;
}

export interface PairDriver {
  /** Puts `window` messages in flight on every sender. */
  start(): void;
  close(): Promise<void>;
}
