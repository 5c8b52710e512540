// One connection's state machine (STYLE.md #4, docs/protocol.md §2–§3):
//   awaitingFirst -> authenticating -> client -> closed
//   awaitingFirst -> server | peer (taken over by federation/server-scope.ts) -> closed
// Any state -> closing -> closed. Its roles live beside it: the first frame is classified by
// first-frame.ts, the login decided by login.ts, live deliveries held behind the kept ones by
// offline-hold.ts, and a logged-in connection's messages run through pipeline.ts.
import type { Duplex } from 'node:stream';
import { AUTH_ID, errorFrame, pingFrame, statusReport } from '../../protocol/builders.ts';
import { BesterError } from '../../protocol/errors.ts';
import { parseFrameText, type OutFrame } from '../../protocol/frame.ts';
import type { JsonData } from '../../protocol/json-text.ts';
import { validateClientMessage, type Credentials } from '../../protocol/messages.ts';
import type { Logger } from '../log.ts';
import type { FlushTarget } from '../offline/offline-types.ts';
import { FrameConnection, type FrameConnectionEvents } from '../../framing/frame-connection.ts';
import type { PeerInfo } from '../transport/listener.ts';
import type { CloseReason } from './close-counters.ts';
import { classifyFirstFrame, connectionIo, type ConnectionIo, type PeerLinkSink } from './first-frame.ts';
import { livenessFor, type Liveness } from './liveness.ts';
import { contextLogin, type LoginDecision } from './login.ts';
import { OfflineHold } from './offline-hold.ts';
import { PeerFrames } from './peer-frames.ts';
import { MessagePipeline, type PipelineHost } from './pipeline.ts';
import type { SessionContext, SessionState } from './session-context.ts';

export type { SessionContext, SessionState } from './session-context.ts';

/** Where a client message keeps the data passed to its handler (docs/protocol.md §3). */
const PAYLOAD_DATA = Object.freeze(['payload', 'data']);

export class Session implements PipelineHost, FrameConnectionEvents {
  readonly id: number;
  state: SessionState = 'awaitingFirst';
  username: string | null = null;
  readonly #conn: FrameConnection;
  readonly #ctx: SessionContext;
  /** Made on first use: an idle connection holds no logger of its own (docs/performance.md, idle connections). */
  #logger: Logger | null = null;
  readonly #remote: string;
  /** A client connection's messages (§3.1), from its first message on. */
  #pipeline: MessagePipeline | null = null;
  #peerEnded = false;
  #loginTimer: NodeJS.Timeout | null;
  #peer: PeerLinkSink | null = null;
  #peerFrames: PeerFrames | null = null;
  /** While the kept deliveries are written at login: live deliveries wait here, behind them (§4.3.1). */
  #held: OfflineHold | null = null;
  /** The key per-address limits count this connection under (connection-gate.ts), null for a local one. */
  readonly #address: string | null;
  #countedAsPending = true;
  #features: readonly string[] = [];
  #liveness: Liveness | null = null;
  #closeReason: CloseReason | null = null;
  /** A network connection in clear text (not TLS, not a UNIX socket): network.requireTls refuses passwords on it. */
  readonly #plainNetwork: boolean;

  /** `id` numbers the connection in logs and the registry (the daemon counts its sessions). */
  constructor(stream: Duplex, peer: PeerInfo, ctx: SessionContext, id: number, address: string | null = null) {
    const { remote } = peer;
    this.id = id;
    this.#ctx = ctx;
    this.#address = address;
    this.#remote = remote;
    this.#plainNetwork = !peer.secure && peer.remoteAddress !== null;
    // The session is its connection's events object itself: no closures per connection (idle connections).
    const { maxLoginFrameBytes: maxFrameBytes, maxOutboundBytes, writeStallMs } = ctx.config.limits;
    this.#conn = new FrameConnection(stream, remote, this, { maxFrameBytes, maxOutboundBytes, writeStallMs, coalesceWrites: true });
    ctx.pending?.add(this);
    ctx.events?.emit('connection.opened', { id, transport: peer.transport, remote });
    this.#loginTimer = setTimeout(() => {
      this.#fatal('login_timeout', `no login within ${ctx.config.limits.loginTimeoutMs} ms`);
    }, ctx.config.limits.loginTimeoutMs);
    this.#loginTimer.unref();
  }

  // FrameConnectionEvents (framing/frame-connection.ts): called by this session's connection only.
  frame(body: Buffer): void {
    this.#onFrame(body);
  }

  protocolError(err: BesterError): void {
    this.#fatal(err.code, err.message);
  }

  ended(): void {
    this.#peerEnded = true;
    this.#closeIfIdle();
  }

  closed(err: Error | null): void {
    this.#onClosed(err);
  }

  get #log(): Logger {
    return (this.#logger ??= this.#ctx.logger.child({ conn: this.id, remote: this.#remote }));
  }

  sendFrame(frame: OutFrame): boolean {
    if (this.#held === null) return this.#conn.sendFrame(frame);
    if (this.state !== 'client') return false;
    if (this.#held.hold(frame)) return true;
    this.#fatal('slow_consumer', `more than ${this.#ctx.config.limits.maxOutboundBytes} bytes waiting to be sent`);
    return false;
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

  /** §2.5: closed to make room for another connection; it waited longest without sending its login. */
  evict(): void {
    const max = this.#ctx.config.limits.maxUnauthenticated;
    this.#fatal('server_busy', `too many connections have not logged in (limits.maxUnauthenticated = ${max}); this one waited longest without a login`);
  }

  /** Server shutdown: the peer is told why, then the connection closes (§3.5). */
  shutdown(): void {
    this.#fatal('shutting_down', 'the server is shutting down');
  }

  // PipelineHost (pipeline.ts): what the pipeline may do with this connection.
  answer(value: object | Buffer): void {
    if (Buffer.isBuffer(value)) this.#conn.sendFrame(value);
    else this.#conn.send(value);
  }

  closeFor(reason: CloseReason): void {
    this.close(reason);
  }

  pauseReading(): void {
    this.#conn.pause();
  }

  resumeReading(): void {
    this.#conn.resume();
  }

  pipelineIdle(): void {
    this.#closeIfIdle();
  }

  #onFrame(body: Buffer): void {
    this.#liveness?.heard(); // §5.3: any frame shows the client is there
    if (this.state === 'peer') {
      this.#peerFrames?.push(body);
      return;
    }
    let frame: JsonData;
    try {
      // §1.3: the nesting depth is checked on the text, before JSON.parse builds anything, in the
      // pass that finds the data's text to hand on (§4.1).
      frame = parseFrameText(body, { maxDepth: this.#ctx.config.limits.maxJsonDepth, find: PAYLOAD_DATA });
    } catch (err) {
      const e = err as BesterError;
      this.#fatal(e.code, e.message);
      return;
    }
    switch (this.state) {
      case 'awaitingFirst':
        this.#onFirst(frame.value, frame.text);
        return;
      case 'authenticating':
      case 'client':
        this.#onClientMessage(frame);
        return;
      default:
        return; // closing, or a server-scope connection that already had its one message
    }
  }

  #onFirst(value: unknown, text: string): void {
    const { serverScope, config } = this.#ctx;
    const first = classifyFirstFrame(value, {
      acceptLegacy: config.federation.acceptUnauthenticatedServers && serverScope !== undefined,
      acceptPeers: serverScope !== undefined,
    });
    switch (first.kind) {
      case 'refuse':
        this.#fatal(first.code, first.reason);
        return;
      case 'legacy':
        this.#takenOver('server');
        serverScope!.legacy(this.#io(), first.payload);
        return;
      case 'peer': {
        this.#takenOver('peer');
        const frames = new PeerFrames(this.#conn, () => this.#ctx.config.limits.maxJsonDepth, (e) => this.#fatal(e.code, e.message));
        const sink = serverScope!.peer({ ...this.#io(), ...frames.link }, first.hello, text);
        if (sink !== null && this.state === 'peer') {
          this.#peer = frames.sink = sink;
          this.#peerFrames = frames;
        }
        return;
      }
      case 'client':
        this.#features = first.features;
        this.#login(first.credentials);
        return;
    }
  }

  #login(credentials: Credentials | null): void {
    this.state = 'authenticating';
    this.#ctx.pending?.loggingIn(this);
    this.#conn.pause();
    if (this.#ctx.config.requireTls && this.#plainNetwork) {
      // docs/protocol.md §2.7: the password already crossed in clear text; it is not checked, so it tells nothing.
      const reason = 'this server accepts passwords only over TLS (network.requireTls): connect to its TLS listener';
      this.#loginRefused({ ok: false, outcome: 'refused', code: 'tls_required', reason, user: null });
      return;
    }
    const login = this.#ctx.login ?? contextLogin(this.#ctx);
    login.check(credentials, this.#address, () => this.state === 'authenticating').then(
      (decision: LoginDecision) => {
        if (this.state !== 'authenticating') return; // closed while the store was checking
        // The per-user cap is checked in the same turn as the session joins the registry.
        const refusal = decision.ok ? login.admit(decision.user) : decision;
        if (refusal === null && decision.ok) this.#loggedIn(decision.user);
        else this.#loginRefused(refusal ?? decision);
      },
      (err: unknown) => {
        // check() never rejects; this only keeps the connection from hanging if it did.
        this.#log.error({ err }, 'login failed unexpectedly');
        this.#reportFatal(AUTH_ID, 'internal_error', 'internal error');
      },
    );
  }

  #loginRefused(decision: LoginDecision): void {
    if (decision.ok) return;
    const { events } = this.#ctx;
    if (events === undefined) this.#log.info({ user: decision.user, code: decision.code }, 'login refused');
    events?.emit('login', { id: this.id, outcome: decision.outcome, user: decision.user, remote: this.#remote, code: decision.code });
    this.#reportFatal(AUTH_ID, decision.code, decision.reason);
  }

  /** A reload changed the limits: a logged-in connection takes the new frame limit now (the rest apply as they are read). */
  limitsChanged(): void {
    if (this.state === 'client') this.#conn.maxFrameBytes = this.#ctx.config.limits.maxFrameBytes;
  }

  #loggedIn(username: string): void {
    this.#leavePending();
    this.#clearLoginTimer();
    this.username = username;
    this.state = 'client';
    const offline = this.#ctx.offline;
    // §4.3.1: from the moment the user counts as online, live deliveries wait behind the kept ones.
    if (offline) this.#held = new OfflineHold(this.#ctx.config.limits.maxOutboundBytes);
    this.#ctx.registry.add(username, this);
    this.#conn.maxFrameBytes = this.#ctx.config.limits.maxFrameBytes;
    const { events } = this.#ctx;
    if (events === undefined) this.#log.info({ user: username }, 'logged in');
    events?.emit('login', { id: this.id, outcome: 'ok', user: username, remote: this.#remote });
    const { liveness } = this.#ctx.config;
    this.#liveness = livenessFor(liveness, this.#features, {
      ping: (id) => this.#conn.send(pingFrame(id)),
      dead: () => this.#fatal('ping_timeout', `no answer to ${liveness.maxMissedPings} pings sent ${liveness.pingIntervalMs} ms apart`),
      busy: () => (this.#pipeline?.busy ?? false) || this.#held !== null,
    });
    this.#conn.send(statusReport(AUTH_ID, true));
    this.#conn.resume();
    if (!offline) {
      this.#pipeline?.start();
      return;
    }
    offline.flush(username, this.#flushTarget()).then(
      () => this.#release(),
      (err: unknown) => {
        this.#log.error({ err }, 'offline flush failed'); // flush never rejects; this only keeps the connection going
        this.#release();
      },
    );
  }

  /** Catch-up (offline/catch-up.ts): live deliveries wait from now on, behind what the target writes. Null if not a client or held already. */
  holdLive(): FlushTarget | null {
    if (this.state !== 'client' || this.#held !== null) return null;
    this.#held = new OfflineHold(this.#ctx.config.limits.maxOutboundBytes);
    return this.#flushTarget();
  }

  /** The catch-up is done: what was held goes out (dropped if the connection is closing). */
  releaseLive(): void {
    if (this.state === 'client' && this.#held !== null) this.#release();
    else this.#held = null;
  }

  /** Writes a kept delivery ahead of anything held (§4.3.1), below the connection's outbound limit. */
  #flushTarget(): FlushTarget {
    const write = (frame: Buffer, written: (ok: boolean) => void): boolean => this.#conn.sendFrame(frame, (err) => written(!err));
    return { write, batchBytes: Math.floor(this.#ctx.config.limits.maxOutboundBytes / 4) };
  }

  /** The kept deliveries are written: what arrived meanwhile follows, then this connection's own messages. */
  #release(): void {
    const held = this.#held;
    this.#held = null;
    held?.release((frame) => this.#conn.sendFrame(frame));
    this.#pipeline?.start();
    this.#closeIfIdle(); // the peer may have ended while its kept deliveries were written
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
    const { config, router, events } = this.#ctx;
    const pipeline = new MessagePipeline({ config, router, log: this.#log, host: this, ...(events ? { events } : {}) });
    if (this.state === 'client' && this.#held === null) pipeline.start();
    return pipeline;
  }

  /** A server-scope connection is handed over: no login deadline, not counted as waiting for a login. */
  #takenOver(state: 'server' | 'peer'): void {
    this.#clearLoginTimer();
    this.#leavePending();
    this.state = state;
  }

  /** What a server-scope owner gets of this connection. */
  #io(): ConnectionIo {
    return connectionIo(this.#conn, (reason) => this.close(reason));
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

  /** The connection no longer counts as not logged in under its address (§2.5). */
  #leavePending(): void {
    if (!this.#countedAsPending) return;
    this.#countedAsPending = false;
    this.#ctx.pending?.remove(this);
    this.#ctx.gate?.loggedInOrGone(this.#address);
  }

  #onClosed(err: Error | null): void {
    this.#clearLoginTimer();
    this.#leavePending();
    this.#liveness?.stop();
    const reason = this.#closeReason ?? 'peer_closed';
    if (this.username !== null) this.#ctx.registry.remove(this.username, this);
    const loggedIn = this.state === 'client' || (this.state === 'closing' && this.username !== null);
    this.state = 'closed';
    this.#pipeline?.stop();
    this.#peerFrames?.stop();
    this.#peer?.closed();
    this.#peer = null;
    if (err && (err as NodeJS.ErrnoException).code !== 'ECONNRESET') this.#log.warn({ err: err.message }, 'connection error');
    const { events, closes } = this.#ctx;
    if (events) events.emit('connection.closed', { id: this.id, reason, user: this.username, loggedIn });
    else closes?.count(reason);
    this.#ctx.onClosed(this);
  }
}
