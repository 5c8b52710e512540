// The built-in ping (docs/protocol.md §5.3): a logged-in client that sent nothing for `intervalMs`
// is sent a ping; any frame from it counts as an answer. After `maxMissed` pings in a row without
// one, the connection is given up. One timer per connection; a received frame only stores the time.

import type { LivenessConfig } from '../config/types.ts';

export interface LivenessOptions {
  readonly intervalMs: number;
  readonly maxMissed: number;
  /** Sends `{"header":{"messageType":"ping"},"payload":{"id":id}}`. */
  readonly ping: (id: string) => void;
  /** maxMissed pings went unanswered. */
  readonly dead: () => void;
  /** True while the server itself holds work for this client (it may not be reading the client now). */
  readonly busy: () => boolean;
}

/**
 * §5.3: a Liveness for a client that announced the "ping" feature (or for every client, by
 * `liveness.pingLegacyClients`); null when this client is not pinged.
 */
export function livenessFor(config: LivenessConfig, features: readonly string[], hooks: Pick<LivenessOptions, 'ping' | 'dead' | 'busy'>): Liveness | null {
  if (!config.pingLegacyClients && !features.includes('ping')) return null;
  return new Liveness({ intervalMs: config.pingIntervalMs, maxMissed: config.maxMissedPings, ...hooks });
}

export class Liveness {
  readonly #options: LivenessOptions;
  #lastHeard = Date.now();
  #missed = 0;
  #sent = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: LivenessOptions) {
    this.#options = options;
    this.#schedule(options.intervalMs);
  }

  /** Pings sent so far (tests). */
  get sent(): number {
    return this.#sent;
  }

  /** Something arrived from the client. */
  heard(): void {
    this.#lastHeard = Date.now();
    this.#missed = 0;
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => this.#tick(), Math.max(1, delayMs));
    this.#timer.unref();
  }

  #tick(): void {
    const { intervalMs, maxMissed } = this.#options;
    const idle = Date.now() - this.#lastHeard;
    if (this.#options.busy()) {
      this.heard();
      this.#schedule(intervalMs);
      return;
    }
    if (idle < intervalMs) {
      this.#schedule(intervalMs - idle);
      return;
    }
    if (this.#missed >= maxMissed) {
      this.#timer = null;
      this.#options.dead();
      return;
    }
    this.#missed++;
    this.#sent++;
    this.#options.ping(`ping-${this.#sent}`);
    this.#schedule(intervalMs);
  }
}
