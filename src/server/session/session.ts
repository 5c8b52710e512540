// One connection's state machine (STYLE.md #4, docs/protocol.md §2–§3):
//   awaitingFirst -> authenticating -> client -> closed
//   awaitingFirst -> server (one message, legacy federation) -> closed
// Any state -> closing -> closed. A logged-in connection's messages go through its pipeline.ts.
import type { Duplex } from 'node:stream';
import { AUTH_ID, errorFrame, pingFrame, statusReport } from '../../protocol/builders.ts';
import { BesterError } from '../../protocol/errors.ts';
import { parseFrameText } from '../../protocol/frame.ts';
import { JsonData } from '../../protocol/json-text.ts';
import { validateClientMessage, validateFirstMessage, type ServerPayload } from '../../protocol/messages.ts';
import type { AccountStore } from '../accounts/account-store.ts';
import type { ServerConfig } from '../config/types.ts';
import { describeThrown, type Logger } from '../log.ts';
import type { OfflineDelivery } from '../routing/offline.ts';
import type { Router } from '../routing/router.ts';
import { FrameConnection } from '../../framing/frame-connection.ts';
import type { PeerInfo } from '../transport/listener.ts';
import type { SessionRegistry } from './registry.ts';
import type { CloseCounters, CloseReason } from './close-counters.ts';
import type { ConnectionGate } from './connection-gate.ts';
import { Liveness } from './liveness.ts';
import { throttledReason, type LoginThrottle } from './login-throttle.ts';
import { MessagePipeline } from './pipeline.ts';
import { AUTH_FAILED_REASON, authenticate, wellFormedName } from './login.ts';

/** Where a client message keeps the data passed to its handler (docs/protocol.md §3). */
const PAYLOAD_DATA = Object.freeze(['payload', 'data']);

export type SessionState = 'awaitingFirst' | 'authenticating' | 'client' | 'server' | 'peer' | 'closing' | 'closed';

/** Where a peer link's frames go once its hello was accepted (src/server/federation/). */
export interface PeerLinkHandler {
  frame(value: unknown): void;
  closed(): void;
}

export interface PeerAcceptor {
  /** Checks the hello; returns the link's frame handler, or null when refused (it answered and closed). */
  accept(io: { send(value: unknown): void; close(): void }, first: unknown, remote: string): PeerLinkHandler | null;
}

export interface SessionContext {
  readonly config: ServerConfig;
  readonly accounts: AccountStore;
  readonly registry: SessionRegistry<Session>;
  readonly router: Router;
  readonly logger: Logger;
  /** Accepts authenticated peer links; without it a sealed server-scope frame is refused. */
  readonly peers?: PeerAcceptor;
  /** Writes the deliveries kept while the user was offline at each login (§4.3.1); absent: none are kept. */
  readonly offline?: Pick<OfflineDelivery, 'flush'>;
  /** Called once when the connection is gone. */
  readonly onClosed: (session: Session) => void;
  /** Counts why each connection ended (serverInfo `closes`, docs/protocol.md §9.4.3). */
  readonly closes?: CloseCounters;
  /** Failed logins per address and per username (§2.5); absent: not throttled. */
  readonly throttle?: LoginThrottle;
  /** Counted this connection as not logged in yet under its address (§2.5); told once that ends. */
  readonly gate?: ConnectionGate;
}


export class Session {
  readonly id: number;
  state: SessionState = 'awaitingFirst';
  username: string | null = null;
  readonly #conn: FrameConnection;
  readonly #ctx: SessionContext;
  readonly #log: Logger;
  /** A client connection's messages (§3.1), from its first message on. */
  #pipeline: MessagePipeline | null = null;
  #peerEnded = false;
  #loginTimer: NodeJS.Timeout | null;
  #peer: PeerLinkHandler | null = null;
  /** While the kept deliveries are written at login: live deliveries wait here, behind them (§4.3.1). */
  #held: Buffer[] | null = null;
  #heldBytes = 0;
  /** The key per-address limits count this connection under (connection-gate.ts), null for a local one. */
  readonly #address: string | null;
  #countedAsPending = true;
  /** The normalized username of the login being checked, when it is a well-formed name. */
  #attempted: string | null = null;
  #features: readonly string[] = [];
  #liveness: Liveness | null = null;
  #closeReason: CloseReason | null = null;

  /** `id` numbers the connection in logs and the registry (the daemon counts its sessions). */
  constructor(stream: Duplex, peer: PeerInfo, ctx: SessionContext, id: number, address: string | null = null) {
    const { remote } = peer;
    this.id = id;
    this.#ctx = ctx;
    this.#address = address;
    this.#conn = new FrameConnection(
      stream,
      remote,
      {
        frame: (body) => this.#onFrame(body),
        protocolError: (err) => this.#fatal(err.code, err.message),
        ended: () => {
          this.#peerEnded = true;
          this.#closeIfIdle();
        },
        closed: (err) => this.#onClosed(err),
      },
      {
        maxFrameBytes: ctx.config.limits.maxLoginFrameBytes,
        maxOutboundBytes: ctx.config.limits.maxOutboundBytes,
        writeStallMs: ctx.config.limits.writeStallMs,
        coalesceWrites: true,
      },
    );
    this.#log = ctx.logger.child({ conn: id, remote });
    this.#log.debug('connection opened');
    this.#loginTimer = setTimeout(() => {
      this.#fatal('login_timeout', `no login within ${ctx.config.limits.loginTimeoutMs} ms`);
    }, ctx.config.limits.loginTimeoutMs);
    this.#loginTimer.unref();
  }


  sendFrame(frame: Buffer): boolean {
    if (this.#held === null) return this.#conn.sendFrame(frame);
    if (this.state !== 'client') return false;
    this.#heldBytes += frame.length;
    if (this.#heldBytes > this.#ctx.config.limits.maxOutboundBytes) {
      this.#fatal('slow_consumer', `more than ${this.#ctx.config.limits.maxOutboundBytes} bytes waiting to be sent`);
      return false;
    }
    this.#held.push(frame);
    return true;
  }

  /** Closes the connection after what was sent is flushed; `reason` is what it is counted as. */
  close(reason: CloseReason = 'closed_by_server'): void {
    if (this.state === 'closed') return;
    this.#closeReason ??= reason;
    this.#liveness?.stop();
    this.state = 'closing';
    this.#pipeline?.stop();
    // Forgotten at once (§2.4): nothing more is delivered to a closing connection.
    if (this.username !== null) this.#ctx.registry.remove(this.username, this);
    this.#conn.close();
  }

  /** Server shutdown: the peer is told why, then the connection closes (§3.5). */
  shutdown(): void {
    this.#fatal('shutting_down', 'the server is shutting down');
  }

  #onFrame(body: Buffer): void {
    this.#liveness?.heard(); // §5.3: any frame shows the client is there
    let frame: JsonData;
    try {
      // §1.3: the nesting depth is checked on the text, before JSON.parse builds anything.
      frame = parseFrameText(body, { maxDepth: this.#ctx.config.limits.maxJsonDepth });
    } catch (err) {
      const e = err as BesterError;
      this.#fatal(e.code, e.message);
      return;
    }
    const value = frame.value;
    switch (this.state) {
      case 'awaitingFirst':
        this.#onFirst(value);
        return;
      case 'authenticating':
      case 'client':
        this.#onClientMessage(frame);
        return;
      case 'peer':
        this.#peer?.frame(value);
        return;
      default:
        return; // closing, or a server-scope connection that already had its one message
    }
  }

  #onFirst(value: unknown): void {
    const first = validateFirstMessage(value);
    if (!first.ok) {
      this.#fatal(first.code, first.reason);
      return;
    }
    if (first.value.scope === 'server') {
      this.#onServerMessage(first.value.payload);
      return;
    }
    if (first.value.scope === 'peer') {
      this.#onPeerHello(value);
      return;
    }
    this.#features = first.value.features;
    this.#attempted = wellFormedName(first.value.credentials);
    // §2.5: a throttled address or username is refused before the password is looked at.
    const refusal = this.#ctx.throttle?.check(this.#address, this.#attempted) ?? null;
    if (refusal !== null) {
      this.#log.warn({ user: this.#attempted, by: refusal.by }, 'login throttled');
      this.#reportFatal(AUTH_ID, 'login_throttled', throttledReason(refusal));
      return;
    }
    this.state = 'authenticating';
    this.#conn.pause();
    authenticate(this.#ctx.accounts, first.value.credentials).then(
      (username) => this.#onAuthenticated(username),
      (err: unknown) => {
        this.#log.error({ err }, 'account store failed during login');
        this.#reportFatal(AUTH_ID, 'store_error', 'the account store is unavailable, try again later');
      },
    );
  }

  #onAuthenticated(username: string | null): void {
    if (this.state !== 'authenticating') return; // closed while the store was checking
    if (username === null) {
      this.#log.info('login failed');
      this.#ctx.throttle?.failed(this.#address, this.#attempted);
      this.#reportFatal(AUTH_ID, 'auth_failed', AUTH_FAILED_REASON);
      return;
    }
    this.#ctx.throttle?.succeeded(username);
    const maxSessions = this.#ctx.config.limits.maxSessionsPerUser;
    if (this.#ctx.registry.connectionsOf(username).size >= maxSessions) {
      const reason = `this user already has ${maxSessions} connections, the most allowed (limits.maxSessionsPerUser)`;
      this.#reportFatal(AUTH_ID, 'too_many_connections', reason);
      return;
    }
    this.#leavePending();
    this.#clearLoginTimer();
    this.username = username;
    this.state = 'client';
    const offline = this.#ctx.offline;
    // §4.3.1: from the moment the user counts as online, live deliveries wait behind the kept ones.
    if (offline) this.#held = [];
    this.#ctx.registry.add(username, this);
    this.#conn.maxFrameBytes = this.#ctx.config.limits.maxFrameBytes;
    this.#log.info({ user: username }, 'logged in');
    this.#startLiveness();
    this.#conn.send(statusReport(AUTH_ID, true));
    this.#conn.resume();
    if (!offline) {
      this.#pipeline?.start();
      return;
    }
    const target = {
      write: (frame: Buffer, written: (ok: boolean) => void) => this.#conn.sendFrame(frame, (err) => written(!err)),
      batchBytes: Math.floor(this.#ctx.config.limits.maxOutboundBytes / 4),
    };
    offline.flush(username, target).then(
      () => this.#release(),
      (err: unknown) => {
        this.#log.error({ err }, 'offline flush failed'); // flush never rejects; this only keeps the connection going
        this.#release();
      },
    );
  }

  /** The kept deliveries are written: what arrived meanwhile follows, then this connection's own messages. */
  #release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    this.#heldBytes = 0;
    for (const frame of held) if (!this.#conn.sendFrame(frame)) break;
    this.#pipeline?.start();
  }

  #onClientMessage(frame: JsonData): void {
    const msg = validateClientMessage(frame.value);
    if (!msg.ok) {
      if (msg.id !== null) this.#reportFatal(msg.id, msg.code, msg.reason);
      else this.#fatal(msg.code, msg.reason);
      return;
    }
    if (this.#log.isLevelEnabled('trace')) this.#log.trace({ id: msg.value.id, type: msg.value.type, data: msg.value.data }, 'message');
    // The data's own text goes to the handler as it is, not serialised again (docs/performance.md).
    const { type, id, data } = msg.value;
    // Made at the first message, so that idle connections do not hold one.
    (this.#pipeline ??= this.#newPipeline()).push({ type, id, data: frame.member(PAYLOAD_DATA, data) });
  }

  #newPipeline(): MessagePipeline {
    const conn = this.#conn;
    const pipeline = new MessagePipeline({
      config: this.#ctx.config,
      router: this.#ctx.router,
      log: this.#log,
      sender: () => this.username,
      send: (value) => conn.send(value),
      close: (reason) => this.close(reason),
      pause: () => conn.pause(),
      resume: () => conn.resume(),
      idle: () => this.#closeIfIdle(),
    });
    if (this.state === 'client' && this.#held === null) pipeline.start();
    return pipeline;
  }

  /** §6.2, legacy federation: one unauthenticated message, then the connection closes. Off by default. */
  #onServerMessage(payload: ServerPayload): void {
    if (!this.#ctx.config.federation.acceptUnauthenticatedServers) {
      this.#fatal('server_scope_refused', 'server-scope connections are not accepted by this server');
      return;
    }
    this.#clearLoginTimer();
    this.#leavePending();
    this.state = 'server';
    this.#log.info({ type: payload.type, id: payload.id }, 'legacy server message');
    this.#ctx.router.dispatch(payload.type, new JsonData(payload.data), { sender: null, id: payload.id }).then(
      (outcome) => {
        if (!outcome.good) this.#log.warn({ type: payload.type, code: outcome.code, reason: outcome.reason }, 'server message failed');
        this.close('server_message_done');
      },
      (err: unknown) => {
        this.#log.error({ err: describeThrown(err) }, 'server message failed');
        this.close('server_message_done');
      },
    );
  }

  /** docs/federation.md §3: a peer opening its link; every frame from here on is sealed. */
  #onPeerHello(first: unknown): void {
    if (!this.#ctx.peers) {
      this.#fatal('server_scope_refused', 'this server has no federation peers');
      return;
    }
    this.#clearLoginTimer();
    this.#leavePending();
    this.#conn.maxFrameBytes = this.#ctx.config.limits.maxHandlerFrameBytes;
    const conn = this.#conn;
    const link = this.#ctx.peers.accept({ send: (v) => conn.send(v), close: () => this.close('peer_link_closed') }, first, conn.label);
    if (link === null) return;
    this.state = 'peer';
    this.#peer = link;
  }

  #closeIfIdle(): void {
    const busy = this.#pipeline?.busy ?? false;
    if (this.#peerEnded && !busy && this.#held === null && this.state !== 'authenticating') this.close('peer_closed');
  }

  /** A bad status report for `id` (with the reason), then close (§3.5). */
  #reportFatal(id: string, code: BesterError['code'], reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.#log.info({ code, reason }, 'closing connection');
    this.#conn.send(statusReport(id, false, { code, reason }));
    this.close(code);
  }

  /** An error frame (no message id known), then close (§3.5). */
  #fatal(code: BesterError['code'], reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.#log.info({ code, reason }, 'closing connection');
    this.#conn.send(errorFrame(code, reason));
    this.close(code);
  }

  #clearLoginTimer(): void {
    if (this.#loginTimer) clearTimeout(this.#loginTimer);
    this.#loginTimer = null;
  }

  /** §5.3: clients that announced the "ping" feature (or every client, by config) are pinged when quiet. */
  #startLiveness(): void {
    const { liveness } = this.#ctx.config;
    if (!liveness.pingLegacyClients && !this.#features.includes('ping')) return;
    this.#liveness = new Liveness({
      intervalMs: liveness.pingIntervalMs,
      maxMissed: liveness.maxMissedPings,
      ping: (id) => this.#conn.send(pingFrame(id)),
      dead: () => this.#fatal('ping_timeout', `no answer to ${liveness.maxMissedPings} pings sent ${liveness.pingIntervalMs} ms apart`),
      busy: () => (this.#pipeline?.busy ?? false) || this.#held !== null,
    });
  }

  /** The connection no longer counts as not logged in under its address (§2.5). */
  #leavePending(): void {
    if (!this.#countedAsPending) return;
    this.#countedAsPending = false;
    this.#ctx.gate?.loggedInOrGone(this.#address);
  }

  #onClosed(err: Error | null): void {
    this.#clearLoginTimer();
    this.#leavePending();
    this.#liveness?.stop();
    const reason = this.#closeReason ?? 'peer_closed';
    this.#ctx.closes?.count(reason);
    if (this.username !== null) this.#ctx.registry.remove(this.username, this);
    const wasLoggedIn = this.state === 'client' || (this.state === 'closing' && this.username !== null);
    this.state = 'closed';
    this.#pipeline?.stop();
    this.#peer?.closed();
    this.#peer = null;
    if (err && (err as NodeJS.ErrnoException).code !== 'ECONNRESET') this.#log.warn({ err: err.message }, 'connection error');
    this.#log.debug({ user: this.username, wasLoggedIn, reason }, 'connection closed');
    this.#ctx.onClosed(this);
  }
}

