// Sending to a server that speaks the original's federation (docs/federation.md §5): one new,
// unauthenticated TCP connection per message carrying
//   {"header":{"scope":"server"},"payload":{"type","id","data"}}
// and nothing back. Only for peers the config marks `legacy` (or unlisted targets when allowed).
// The message stays in the outbox until it has been written and the connection closed cleanly.
import net from 'node:net';
import { encodeFrame } from '../../protocol/frame.ts';
import type { FederationConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { FederationOutbox } from '../storage/federation-outbox.ts';
import type { LinkState } from './peer-link.ts';

export function sendLegacyMessage(
  host: string,
  port: number,
  payload: { type: string; id: string; data: unknown },
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`no clean close within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => finish(err));
    socket.on('connect', () => {
      // The original read one frame and closed; the message counts as handed over once we have
      // written it all and the peer has closed (or we got to end our side without an error).
      socket.end(encodeFrame({ header: { scope: 'server' }, payload }), () => finish(null));
    });
  });
}

export class LegacyLink {
  #state: LinkState = 'idle';
  readonly #key: string;
  readonly #host: string;
  readonly #port: number;
  readonly #config: FederationConfig;
  readonly #store: FederationOutbox;
  readonly #log: Logger;
  readonly #onAck: (entry: { peer: string; seq: number }) => void;
  readonly #onState: ((state: LinkState) => void) | undefined;
  #running = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: {
    key: string;
    host: string;
    port: number;
    config: FederationConfig;
    store: FederationOutbox;
    logger: Logger;
    onAck: (entry: { peer: string; seq: number }) => void;
    onState?: (state: LinkState) => void;
  }) {
    this.#key = options.key;
    this.#host = options.host;
    this.#port = options.port;
    this.#config = options.config;
    this.#store = options.store;
    this.#log = options.logger.child({ peer: options.key, legacy: true });
    this.#onAck = options.onAck;
    this.#onState = options.onState;
  }

  get state(): LinkState {
    return this.#state;
  }

  set state(state: LinkState) {
    if (state === this.#state) return;
    this.#state = state;
    this.#onState?.(state);
  }

  /** A legacy peer never acknowledges; a message counts as delivered once written, which is quick while it is reachable. */
  get prompt(): boolean {
    return this.#state !== 'backoff';
  }

  kick(): void {
    if (this.#closed || this.#running || this.#timer) return;
    this.#running = true;
    this.state = 'up';
    this.#drain().then(
      () => undefined,
      (err: unknown) => this.#log.error({ err }, 'legacy link failed'),
    );
  }

  close(): void {
    this.#closed = true;
    this.state = 'closed';
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  async #drain(): Promise<void> {
    try {
      for (;;) {
        if (this.#closed) return;
        const [entry] = await this.#store.pending(this.#key, 0, 1);
        if (!entry) {
          this.state = 'idle';
          this.#attempt = 0;
          return;
        }
        try {
          await sendLegacyMessage(this.#host, this.#port, { type: entry.type, id: entry.msgId, data: entry.data }, this.#config.connectTimeoutMs);
        } catch (err) {
          this.#log.warn({ err: (err as Error).message }, 'legacy peer unreachable; will retry');
          this.#backoff();
          return;
        }
        await this.#store.acknowledge(this.#key, entry.seq);
        this.#onAck({ peer: this.#key, seq: entry.seq });
      }
    } finally {
      this.#running = false;
    }
  }

  #backoff(): void {
    this.state = 'backoff';
    const base = Math.min(this.#config.reconnectDelayMs * 2 ** this.#attempt, this.#config.maxReconnectDelayMs);
    this.#attempt++;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.kick();
    }, Math.round(base * (0.5 + Math.random() * 0.5)));
    this.#timer.unref();
  }
}
