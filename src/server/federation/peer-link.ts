// The outbound link to one peer (docs/federation.md §3): one persistent TCP or TLS connection that
// carries this server's outbox for that peer, in order, with at most `maxInFlight` messages
// unacknowledged, heartbeats both ways, and reconnects with jittered backoff. The outbox is
// durable (storage/federation-outbox.ts), so a link can be torn down at any time without losing anything.
import { FrameConnection } from '../../framing/frame-connection.ts';
import { encodeFrame, FRAME_HEADER_BYTES, parseFrameJson } from '../../protocol/frame.ts';
import { ACK, HELLO, open, payloadDigest, PING, PONG, readWelcome, ReplayCache, seal, WELCOME, type WelcomeTerms } from '../../protocol/federation.ts';
import { own } from '../../protocol/json.ts';
import type { FederationConfig, PeerConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { FederationOutbox, OutboxEntry } from '../storage/federation-outbox.ts';
import { linkFrameProblem, messagePayload } from './link-frame.ts';
import { openPeerSocket } from './peer-socket.ts';
import { reconcileWelcome } from './sequence-check.ts';

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
  /** A message that will never be delivered (the peer refused it, or it cannot be carried): out of the outbox. */
  readonly onUndeliverable?: (entry: OutboxEntry, reason: string) => void;
  /** The link changed state (the `peer.link` event). */
  readonly onState?: (state: LinkState) => void;
  /** Counts what the link detected (`seq_diverged`, `peer_forgot`, `refused_by_peer`, ...). */
  readonly count?: (name: string) => void;
}

/** A message sent and not acknowledged yet, with its fingerprint (§3.6). */
interface InFlight {
  readonly entry: OutboxEntry;
  readonly digest: string;
}

export class PeerLink {
  #state: LinkState = 'idle';
  readonly #o: PeerLinkOptions;
  readonly #log: Logger;
  readonly #replay = new ReplayCache(100_000);
  #conn: FrameConnection | null = null;
  /** Highest seq read from the outbox for the current connection (sent, or found undeliverable). */
  #sentUpTo = 0;
  /** What the peer said it had processed when it welcomed this connection. */
  #welcomeSeq = 0;
  /** Messages sent on this connection and not acknowledged, in seq order (§3.3; expired ones leave it, §4). */
  readonly #inFlight = new Map<number, InFlight>();
  /** The peer's welcome: its window and limits. */
  #terms: WelcomeTerms | null = null;
  #lastAckAt = 0;
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

  get state(): LinkState {
    return this.#state;
  }

  set state(state: LinkState) {
    if (state === this.#state) return;
    this.#state = state;
    this.#o.onState?.(state);
  }

  /**
   * Whether an acknowledgement can be expected soon (finding 6 of issue 15): the link is up and the
   * peer acknowledged within ackWaitMs, or has nothing to acknowledge. Otherwise a sender's report
   * does not wait for it.
   */
  get prompt(): boolean {
    if (this.#state === 'backoff' || this.#state === 'closed') return false;
    if (this.#state !== 'up') return true; // connecting: a refused connection ends the wait at once (backoff)
    return this.#inFlight.size === 0 || Date.now() - this.#lastAckAt < this.#o.config.ackWaitMs;
  }

  /** Messages in flight now (tests, status). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** There is something new in the outbox: send it now if the link is up, or connect. */
  kick(): void {
    if (this.#closed) return;
    if (this.#state === 'up') this.#pump();
    else if (this.#state === 'idle') this.#connect();
    else if (this.#state === 'backoff') this.#kickedInBackoff = true;
  }

  /** The outbox dropped `seq` (expired, §4): it no longer takes a place in the window (finding 7). */
  forget(seq: number): void {
    if (this.#inFlight.delete(seq)) this.#pump();
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
    const { socket, ready } = openPeerSocket({
      host, port, tls: this.#o.peer.tls, connectTimeoutMs: this.#o.config.connectTimeoutMs, log: this.#log, ...(this.#o.count ? { count: this.#o.count } : {}),
    });
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
    this.#welcomeSeq = 0;
    this.#inFlight.clear();
    this.#terms = null;
    this.#lastHeard = Date.now();
    // Over TLS, only once the peer's certificate verified (§3.8): nothing is sent to an impostor.
    ready(() => {
      if (conn !== this.#conn) return;
      conn.send(seal(this.#o.peer.secret, this.#o.self, this.#o.peer.name, { type: HELLO, id: 'hello' }, { first: true }));
      // From the hello on: a receiver that never welcomes (it waits for a replaced link, §3.7) still answers pings.
      this.#startHeartbeat();
    });
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
      const terms = readWelcome(payload);
      if (terms === null) this.#drop(conn, 'peer sent a welcome without a valid lastSeq');
      else if (this.#terms === null) this.#onWelcome(conn, terms);
    } else if (type === ACK) {
      const seq = own(payload, 'seq');
      const status = own(payload, 'status');
      const reason = own(payload, 'reason');
      if (typeof seq === 'number') this.#onAck(conn, seq, typeof status === 'string' ? status : 'ok', typeof reason === 'string' ? reason : null);
    } else if (type === PING) {
      conn.send(seal(this.#o.peer.secret, this.#o.self, this.#o.peer.name, { type: PONG }));
    }
    // PONG: nothing to do beyond #lastHeard.
  }

  #onWelcome(conn: FrameConnection, terms: WelcomeTerms): void {
    this.#terms = terms;
    const { store, logger, count, onAck } = this.#o;
    const current = (): boolean => conn === this.#conn;
    reconcileWelcome({ store, peer: this.#o.peer.name, terms, log: logger, count: count ?? (() => undefined), onAck, current }).then(
      (refusal) => {
        if (conn !== this.#conn) return;
        if (refusal !== null) {
          this.#drop(conn, refusal);
          return;
        }
        this.#welcomeSeq = terms.lastSeq;
        this.#sentUpTo = terms.lastSeq;
        this.state = 'up';
        this.#log.info({ lastSeq: this.#welcomeSeq }, 'peer link up');
        this.#pump();
      },
      (err: unknown) => {
        this.#log.error({ err }, 'could not read the outbox');
        if (conn === this.#conn) this.#drop(conn, 'the outbox could not be read');
      },
    );
  }

  #onAck(conn: FrameConnection, seq: number, status: string, reason: string | null): void {
    const sent = this.#inFlight.get(seq);
    if (sent === undefined) return; // stale or bogus: nothing in flight matches
    this.#inFlight.delete(seq);
    const peer = this.#o.peer.name;
    if (status === 'duplicate' && seq > this.#welcomeSeq) {
      // §3.6: the peer says it processed a message first sent on this connection: its count was pushed ahead.
      this.#o.count?.('seq_diverged');
      this.#drop(conn, `the peer calls seq ${seq} a duplicate, but it had processed only up to ${this.#welcomeSeq}`);
      return;
    }
    if (status === 'refused') {
      this.#o.count?.('refused_by_peer');
      this.#log.warn({ seq, id: sent.entry.msgId, reason }, 'the peer refused a message');
      this.#undeliverable(sent.entry, `server "${peer}" refused it: ${reason ?? 'no reason given'}`);
    } else {
      this.#attempt = 0; // progress (not a welcome) resets the reconnect backoff
      this.#lastAckAt = Date.now();
      this.#o.store.acknowledge(peer, seq, sent.digest).then(
        () => this.#o.onAck({ peer, seq }),
        // Left in the outbox: sent again on the next connection, and the peer drops it as a duplicate.
        (err: unknown) => this.#log.error({ err, seq }, 'could not remove an acknowledged message'),
      );
    }
    this.#pump();
  }

  /** Out of the outbox and reported (its sender hears `undeliverable`): never taken as acknowledged. */
  #undeliverable(entry: OutboxEntry, reason: string): void {
    this.#o.store.acknowledge(entry.peer, entry.seq).then(
      () => this.#o.onUndeliverable?.(entry, reason),
      (err: unknown) => this.#log.error({ err, seq: entry.seq }, 'could not remove an undeliverable message'),
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
    if (this.#state !== 'up' || !conn) return;
    const window = Math.min(this.#o.config.maxInFlight, this.#terms?.window ?? Number.POSITIVE_INFINITY);
    const room = window - this.#inFlight.size;
    if (room <= 0) return;
    const entries = await this.#o.store.pending(this.#o.peer.name, this.#sentUpTo, room);
    if (conn !== this.#conn || this.#state !== 'up') return; // the link went down while reading
    const limits = {
      maxFrameBytes: this.#terms?.maxFrameBytes ?? this.#o.maxFrameBytes,
      maxJsonDepth: this.#terms?.maxJsonDepth ?? this.#o.maxJsonDepth,
    };
    for (const entry of entries) {
      if (entry.seq <= this.#sentUpTo) continue;
      const payload = messagePayload(entry);
      const frame = encodeFrame(seal(this.#o.peer.secret, this.#o.self, this.#o.peer.name, payload));
      const problem = linkFrameProblem(frame.length - FRAME_HEADER_BYTES, entry.data, limits);
      if (problem !== null) {
        // The peer would refuse the frame and drop the link, again at every reconnect (finding 2).
        this.#sentUpTo = entry.seq;
        this.#o.count?.('too_large_for_peer');
        this.#log.warn({ seq: entry.seq, id: entry.msgId, reason: problem }, 'a message the link cannot carry');
        this.#undeliverable(entry, `it cannot be carried to server "${this.#o.peer.name}": ${problem}`);
        continue;
      }
      if (!conn.sendFrame(frame)) return;
      this.#sentUpTo = entry.seq;
      this.#inFlight.set(entry.seq, { entry, digest: payloadDigest(JSON.stringify(payload)) });
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
      // Up and nothing waiting for an acknowledgement: a healthy link, whatever happened before it.
      if (this.#state === 'up' && this.#inFlight.size === 0) this.#attempt = 0;
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
    this.#inFlight.clear();
    this.#clearTimers();
    if (this.#closed) return;
    const wasUp = this.#state === 'up';
    if (wasUp) this.#log.warn({ err: err?.message }, 'peer link down');
    else this.#log.debug({ err: err?.message }, 'peer link attempt failed');
    this.state = 'backoff';
    const base = Math.min(this.#o.config.reconnectDelayMs * 2 ** this.#attempt, this.#o.config.maxReconnectDelayMs);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    this.#kickedInBackoff = false;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // Reconnect only while there is something to send; an idle link costs nothing.
      const reconnect = (waiting: boolean): void => {
        if (this.#closed || this.#state !== 'backoff') return;
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

function describeError(value: unknown): string {
  const header = typeof value === 'object' && value !== null ? (value as { header?: { reason?: unknown } }).header : undefined;
  return typeof header?.reason === 'string' ? header.reason : 'nothing';
}
