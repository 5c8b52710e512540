// The outbound link to one peer (docs/federation.md §3): one persistent TCP connection that
// carries this server's outbox for that peer, in order, with at most `maxInFlight` messages
// unacknowledged, heartbeats both ways, and reconnects with jittered backoff. The outbox is
// durable (storage/federation-outbox.ts), so a link can be torn down at any time without losing anything.
import net from 'node:net';
import { FrameConnection } from '../../framing/frame-connection.ts';
import { parseFrameJson } from '../../protocol/frame.ts';
import { ACK, HELLO, open, PING, PONG, ReplayCache, seal, WELCOME } from '../../protocol/federation.ts';
import { own } from '../../protocol/json.ts';
import type { FederationConfig, PeerConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { FederationOutbox, OutboxEntry } from '../storage/federation-outbox.ts';

export type LinkState = 'idle' | 'connecting' | 'up' | 'backoff' | 'closed';

export interface PeerLinkOptions {
  readonly self: string;
  readonly peer: PeerConfig & { readonly secret: string; readonly host: string; readonly port: number };
  readonly config: FederationConfig;
  readonly store: FederationOutbox;
  readonly maxFrameBytes: number;
  /** Deepest JSON nesting accepted from the peer (limits.maxJsonDepth, docs/protocol.md §1.3). */
  readonly maxJsonDepth: number;
  readonly logger: Logger;
  /** Called when the peer acknowledged a message (it is out of the outbox). */
  readonly onAck: (entry: { peer: string; seq: number }) => void;
}

export class PeerLink {
  state: LinkState = 'idle';
  readonly #o: PeerLinkOptions;
  readonly #log: Logger;
  readonly #replay = new ReplayCache(100_000);
  #conn: FrameConnection | null = null;
  /** Highest seq written on the current connection. */
  #sentUpTo = 0;
  /** Highest seq the peer acknowledged; it processes in order, so acks come in order (§3.3). */
  #ackedUpTo = 0;
  #attempt = 0;
  #timer: NodeJS.Timeout | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #lastHeard = 0;
  #closed = false;
  /** One read of the outbox at a time (pump), so nothing is sent twice; `#pumpAgain` asks for one more. */
  #pumping = false;
  #pumpAgain = false;
  /** Kicked during a backoff: connect after it even if the outbox looked empty when read. */
  #kickedInBackoff = false;

  constructor(options: PeerLinkOptions) {
    this.#o = options;
    this.#log = options.logger.child({ peer: options.peer.name });
  }

  /** There is something new in the outbox: send it now if the link is up, or connect. */
  kick(): void {
    if (this.#closed) return;
    if (this.state === 'up') this.#pump();
    else if (this.state === 'idle') this.#connect();
    else if (this.state === 'backoff') this.#kickedInBackoff = true;
  }

  close(): void {
    this.#closed = true;
    this.state = 'closed';
    this.#clearTimers();
    this.#conn?.close();
    this.#conn = null;
  }

  #connect(): void {
    if (this.#closed) return;
    this.state = 'connecting';
    const { host, port } = this.#o.peer;
    const socket = net.connect({ host, port, noDelay: true });
    socket.setTimeout(this.#o.config.connectTimeoutMs, () => socket.destroy(new Error('connect timeout')));
    socket.once('connect', () => socket.setTimeout(0));
    const conn = new FrameConnection(
      socket,
      `${host}:${port}`,
      {
        frame: (body) => this.#onFrame(conn, body),
        protocolError: (err) => {
          this.#log.warn({ code: err.code, err: err.message }, 'peer link protocol error');
          conn.destroy();
        },
        ended: () => conn.close(),
        closed: (err) => this.#onClosed(conn, err),
      },
      { maxFrameBytes: this.#o.maxFrameBytes, maxOutboundBytes: 64 * 1024 * 1024 },
    );
    this.#conn = conn;
    this.#sentUpTo = 0;
    this.#ackedUpTo = 0;
    this.#lastHeard = Date.now();
    conn.send(seal(this.#o.peer.secret, this.#o.self, this.#o.peer.name, { type: HELLO, id: 'hello' }, { first: true }));
  }

  #onFrame(conn: FrameConnection, body: Buffer): void {
    if (conn !== this.#conn) return;
    let value: unknown;
    try {
      value = parseFrameJson(body, { maxDepth: this.#o.maxJsonDepth });
    } catch (err) {
      this.#drop(conn, `peer sent an unreadable frame: ${(err as Error).message}`);
      return;
    }
    const opened = open(value, { secret: this.#o.peer.secret, self: this.#o.self, peer: this.#o.peer.name, replay: this.#replay });
    if (!opened.ok) {
      // The peer may have answered with a plain error frame (e.g. it refused our hello): say why.
      this.#drop(conn, `peer frame refused: ${opened.reason}; peer said: ${describeError(value)}`);
      return;
    }
    this.#lastHeard = Date.now();
    const payload = opened.payload;
    const type = own(payload, 'type');
    if (type === WELCOME) {
      const lastSeq = own(payload, 'lastSeq');
      this.#onWelcome(typeof lastSeq === 'number' ? lastSeq : 0);
    } else if (type === ACK) {
      const seq = own(payload, 'seq');
      if (typeof seq === 'number') this.#onAck(seq);
    } else if (type === PING) {
      conn.send(seal(this.#o.peer.secret, this.#o.self, this.#o.peer.name, { type: PONG }));
    }
    // PONG: nothing to do beyond #lastHeard.
  }

  #onWelcome(lastSeq: number): void {
    this.state = 'up';
    this.#attempt = 0;
    this.#log.info({ lastSeq }, 'peer link up');
    this.#sentUpTo = lastSeq;
    this.#ackedUpTo = lastSeq;
    this.#startHeartbeat();
    this.#pump();
    // The peer has processed everything up to lastSeq already: those are done (the pump reads after lastSeq).
    this.#o.store.pending(this.#o.peer.name, 0, 1_000_000).then(
      (entries) => {
        for (const entry of entries) {
          if (entry.seq > lastSeq) break;
          this.#ack(entry.seq);
        }
      },
      (err: unknown) => this.#log.error({ err }, 'could not read the outbox'),
    );
  }

  #onAck(seq: number): void {
    if (seq <= this.#ackedUpTo || seq > this.#sentUpTo) return; // stale or bogus: nothing in flight matches
    this.#ackedUpTo = seq;
    this.#ack(seq);
    this.#pump();
  }

  #ack(seq: number): void {
    const peer = this.#o.peer.name;
    this.#o.store.acknowledge(peer, seq).then(
      () => this.#o.onAck({ peer, seq }),
      // Left in the outbox: sent again on the next connection, and the peer drops it as a duplicate.
      (err: unknown) => this.#log.error({ err, seq }, 'could not remove an acknowledged message'),
    );
  }

  /** Sends waiting messages, in order, up to the in-flight bound. */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    const done = (): void => {
      this.#pumping = false;
      if (this.#pumpAgain) {
        this.#pumpAgain = false;
        this.#pump();
      }
    };
    this.#pumpOnce().then(done, (err: unknown) => {
      this.#log.error({ err }, 'could not read the outbox');
      done();
    });
  }

  async #pumpOnce(): Promise<void> {
    const conn = this.#conn;
    if (this.state !== 'up' || !conn) return;
    const room = this.#o.config.maxInFlight - (this.#sentUpTo - this.#ackedUpTo);
    if (room <= 0) return;
    const entries = await this.#o.store.pending(this.#o.peer.name, this.#sentUpTo, room);
    if (conn !== this.#conn || this.state !== 'up') return; // the link went down while reading
    for (const entry of entries) {
      if (entry.seq <= this.#sentUpTo) continue;
      if (!conn.send(seal(this.#o.peer.secret, this.#o.self, this.#o.peer.name, messagePayload(entry)))) return;
      this.#sentUpTo = entry.seq;
    }
  }

  #startHeartbeat(): void {
    const every = this.#o.config.heartbeatMs;
    this.#heartbeat = setInterval(() => {
      const conn = this.#conn;
      if (!conn) return;
      if (Date.now() - this.#lastHeard > 2 * every) {
        this.#drop(conn, `no frame from the peer for ${2 * every} ms`);
        return;
      }
      conn.send(seal(this.#o.peer.secret, this.#o.self, this.#o.peer.name, { type: PING }));
    }, every);
    this.#heartbeat.unref();
  }

  #drop(conn: FrameConnection, reason: string): void {
    this.#log.warn({ reason }, 'dropping peer link');
    conn.destroy();
  }

  #onClosed(conn: FrameConnection, err: Error | null): void {
    if (conn !== this.#conn) return;
    this.#conn = null;
    this.#clearTimers();
    if (this.#closed) return;
    const wasUp = this.state === 'up';
    if (wasUp) this.#log.warn({ err: err?.message }, 'peer link down');
    else this.#log.debug({ err: err?.message }, 'peer link attempt failed');
    this.state = 'backoff';
    const base = Math.min(this.#o.config.reconnectDelayMs * 2 ** this.#attempt, this.#o.config.maxReconnectDelayMs);
    this.#attempt++;
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    this.#kickedInBackoff = false;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // Reconnect only while there is something to send; an idle link costs nothing.
      const reconnect = (waiting: boolean): void => {
        if (this.#closed || this.state !== 'backoff') return;
        if (waiting || this.#kickedInBackoff) this.#connect();
        else this.state = 'idle';
      };
      this.#o.store.pending(this.#o.peer.name, 0, 1).then(
        (entries) => reconnect(entries.length > 0),
        (err: unknown) => {
          this.#log.error({ err }, 'could not read the outbox');
          reconnect(true);
        },
      );
    }, delay);
    this.#timer.unref();
  }

  #clearTimers(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#timer = null;
    this.#heartbeat = null;
  }
}

export function messagePayload(entry: OutboxEntry): Record<string, unknown> {
  return {
    type: entry.type,
    id: entry.msgId,
    data: entry.data,
    origin: entry.origin,
    seq: entry.seq,
    hops: entry.hops,
    sender: entry.sender,
  };
}

function describeError(value: unknown): string {
  const header = typeof value === 'object' && value !== null ? (value as { header?: { reason?: unknown } }).header : undefined;
  return typeof header?.reason === 'string' ? header.reason : 'nothing';
}
