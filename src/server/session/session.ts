// One connection's state machine (STYLE.md #4, docs/protocol.md §2–§3):
//   awaitingFirst -> authenticating -> client -> closed
//   awaitingFirst -> server (one message, legacy federation) -> closed
// Any state -> closing -> closed. Messages of one connection are handled one at a time, in order.
import type { Duplex } from 'node:stream';
import { AUTH_ID, dummyReply, errorFrame, statusReport } from '../../protocol/builders.ts';
import { BesterError } from '../../protocol/errors.ts';
import { parseFrameJson } from '../../protocol/frame.ts';
import {
  builtinCommand,
  validateClientMessage,
  validateFirstMessage,
  type Credentials,
  type Payload,
  type ServerPayload,
} from '../../protocol/messages.ts';
import { checkUsername, normalizeUsername, type AccountStore } from '../accounts/account-store.ts';
import type { ServerConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { Router } from '../routing/router.ts';
import { FrameConnection } from '../../protocol/frame-connection.ts';
import type { SessionRegistry } from './registry.ts';

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
  /** Called once when the connection is gone. */
  readonly onClosed: (session: Session) => void;
}

/** Messages read ahead of the one being handled before the socket is paused. */
const MAX_PENDING = 32;
const MAX_OUTBOUND_BYTES = 8 * 1024 * 1024;
const AUTH_FAILED_REASON = 'authentication failed: unknown user or wrong password';

export class Session {
  state: SessionState = 'awaitingFirst';
  username: string | null = null;
  readonly #conn: FrameConnection;
  readonly #ctx: SessionContext;
  readonly #log: Logger;
  readonly #pending: Payload[] = [];
  #busy = false;
  #peerEnded = false;
  #loginTimer: NodeJS.Timeout | null;
  #peer: PeerLinkHandler | null = null;

  constructor(stream: Duplex, remote: string, ctx: SessionContext) {
    this.#ctx = ctx;
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
      { maxFrameBytes: ctx.config.limits.maxLoginFrameBytes, maxOutboundBytes: MAX_OUTBOUND_BYTES },
    );
    this.#log = ctx.logger.child({ conn: this.#conn.id, remote });
    this.#log.debug('connection opened');
    this.#loginTimer = setTimeout(() => {
      this.#fatal('login_timeout', `no login within ${ctx.config.limits.loginTimeoutMs} ms`);
    }, ctx.config.limits.loginTimeoutMs);
    this.#loginTimer.unref();
  }

  get id(): number {
    return this.#conn.id;
  }

  sendFrame(frame: Buffer): boolean {
    return this.#conn.sendFrame(frame);
  }

  /** Closes the connection after what was sent is flushed (shutdown, builtin close). */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    // Forgotten at once (§2.4): nothing more is delivered to a closing connection.
    if (this.username !== null) this.#ctx.registry.remove(this.username, this);
    this.#conn.close();
  }

  /** Server shutdown: the peer is told why, then the connection closes (§3.5). */
  shutdown(): void {
    this.#fatal('shutting_down', 'the server is shutting down');
  }

  #onFrame(body: Buffer): void {
    let value: unknown;
    try {
      value = parseFrameJson(body);
    } catch (err) {
      const e = err as BesterError;
      this.#fatal(e.code, e.message);
      return;
    }
    switch (this.state) {
      case 'awaitingFirst':
        this.#onFirst(value);
        return;
      case 'authenticating':
      case 'client':
        this.#onClientMessage(value);
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
    this.state = 'authenticating';
    this.#conn.pause();
    this.#authenticate(first.value.credentials).then(
      (username) => this.#onAuthenticated(username),
      (err: unknown) => {
        this.#log.error({ err }, 'account store failed during login');
        this.#reportFatal(AUTH_ID, 'store_error', 'the account store is unavailable, try again later');
      },
    );
  }

  async #authenticate(credentials: Credentials | null): Promise<string | null> {
    if (!credentials) return null;
    const username = normalizeUsername(credentials.username);
    // §2.2: empty username or password fails, like the original; the store checks the rest.
    if (checkUsername(username) !== null || credentials.password === '') return null;
    return (await this.#ctx.accounts.verify(username, credentials.password)) ? username : null;
  }

  #onAuthenticated(username: string | null): void {
    if (this.state !== 'authenticating') return; // closed while the store was checking
    if (username === null) {
      this.#log.info('login failed');
      this.#reportFatal(AUTH_ID, 'auth_failed', AUTH_FAILED_REASON);
      return;
    }
    this.#clearLoginTimer();
    this.username = username;
    this.state = 'client';
    this.#ctx.registry.add(username, this);
    this.#conn.maxFrameBytes = this.#ctx.config.limits.maxFrameBytes;
    this.#log.info({ user: username }, 'logged in');
    this.#conn.send(statusReport(AUTH_ID, true));
    this.#conn.resume();
    this.#pump();
  }

  #onClientMessage(value: unknown): void {
    const msg = validateClientMessage(value);
    if (!msg.ok) {
      if (msg.id !== null) this.#reportFatal(msg.id, msg.code, msg.reason);
      else this.#fatal(msg.code, msg.reason);
      return;
    }
    this.#log.trace({ id: msg.value.id, type: msg.value.type, data: msg.value.data }, 'message');
    this.#pending.push(msg.value);
    if (this.#pending.length >= MAX_PENDING) this.#conn.pause();
    this.#pump();
  }

  /** Handles queued messages one at a time, in order (§3.1). */
  #pump(): void {
    if (this.#busy || this.state !== 'client') return;
    const next = this.#pending.shift();
    if (!next) {
      this.#closeIfIdle();
      return;
    }
    this.#busy = true;
    this.#handle(next).then(
      () => this.#afterMessage(),
      (err: unknown) => {
        this.#log.error({ err, id: next.id }, 'message handling failed');
        this.#conn.send(statusReport(next.id, false, { code: 'internal_error', reason: 'internal error' }));
        this.#afterMessage();
      },
    );
  }

  #afterMessage(): void {
    this.#busy = false;
    if (this.#pending.length < MAX_PENDING / 2) this.#conn.resume();
    this.#pump();
  }

  async #handle(msg: Payload): Promise<void> {
    if (msg.type === 'dummy') {
      this.#conn.send(dummyReply(msg.id));
      return;
    }
    if (msg.type === 'builtin') {
      const command = builtinCommand(msg.data);
      if (command === 'close') {
        this.#log.debug('builtin close');
        this.close();
        return;
      }
      this.#conn.send(
        statusReport(msg.id, false, { code: 'unknown_builtin', reason: `unknown builtin command ${JSON.stringify(command)}` }),
      );
      return;
    }
    const outcome = await this.#ctx.router.dispatch(msg.type, msg.data, { sender: this.username, id: msg.id });
    if (outcome.good) this.#conn.send(statusReport(msg.id, true, outcome.servers ? { servers: outcome.servers } : undefined));
    else this.#conn.send(statusReport(msg.id, false, outcome));
  }

  /** §6.2, legacy federation: one unauthenticated message, then the connection closes. Off by default. */
  #onServerMessage(payload: ServerPayload): void {
    if (!this.#ctx.config.federation.acceptUnauthenticatedServers) {
      this.#fatal('server_scope_refused', 'server-scope connections are not accepted by this server');
      return;
    }
    this.#clearLoginTimer();
    this.state = 'server';
    this.#log.info({ type: payload.type, id: payload.id }, 'legacy server message');
    this.#ctx.router.dispatch(payload.type, payload.data, { sender: null, id: payload.id }).then(
      (outcome) => {
        if (!outcome.good) this.#log.warn({ type: payload.type, code: outcome.code, reason: outcome.reason }, 'server message failed');
        this.close();
      },
      (err: unknown) => {
        this.#log.error({ err }, 'server message failed');
        this.close();
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
    this.#conn.maxFrameBytes = this.#ctx.config.limits.maxHandlerFrameBytes;
    const conn = this.#conn;
    const link = this.#ctx.peers.accept({ send: (v) => conn.send(v), close: () => this.close() }, first, conn.remote);
    if (link === null) return;
    this.state = 'peer';
    this.#peer = link;
  }

  #closeIfIdle(): void {
    if (this.#peerEnded && !this.#busy && this.#pending.length === 0 && this.state !== 'authenticating') this.close();
  }

  /** A bad status report for `id` (with the reason), then close (§3.5). */
  #reportFatal(id: string, code: BesterError['code'], reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.#log.info({ code, reason }, 'closing connection');
    this.#conn.send(statusReport(id, false, { code, reason }));
    this.close();
  }

  /** An error frame (no message id known), then close (§3.5). */
  #fatal(code: BesterError['code'], reason: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.#log.info({ code, reason }, 'closing connection');
    this.#conn.send(errorFrame(code, reason));
    this.close();
  }

  #clearLoginTimer(): void {
    if (this.#loginTimer) clearTimeout(this.#loginTimer);
    this.#loginTimer = null;
  }

  #onClosed(err: Error | null): void {
    this.#clearLoginTimer();
    if (this.username !== null) this.#ctx.registry.remove(this.username, this);
    const wasLoggedIn = this.state === 'client' || (this.state === 'closing' && this.username !== null);
    this.state = 'closed';
    this.#pending.length = 0;
    this.#peer?.closed();
    this.#peer = null;
    if (err && (err as NodeJS.ErrnoException).code !== 'ECONNRESET') this.#log.warn({ err: err.message }, 'connection error');
    this.#log.debug({ user: this.username, wasLoggedIn }, 'connection closed');
    this.#ctx.onClosed(this);
  }
}
