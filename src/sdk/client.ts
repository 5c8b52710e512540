// The client SDK (`bester/client`, docs/sdk.md): log in to a Bester server, send messages and get
// their status reports, receive deliveries as events or through an async iterator.
//
//   const client = await connect({ server: '127.0.0.1:2220', username: 'alice', password: 'pw' });
//   const report = await client.send('chat', { to: 'bob', text: 'hi' });
//   for await (const d of client.deliveries()) console.log(d.type, d.data);
//
// The same module runs in browsers (docs/sdk.md "In a browser"): with a ws:// or wss:// server it
// imports nothing Node-only (the socket transport is loaded only for socket addresses).
// Depends on src/protocol/ only (docs/architecture.md).
import { formatServerAddress, toServerAddress, type ServerAddress } from './address.ts';
import { DeliveryStreams } from './delivery-streams.ts';
import { Emitter } from './event-emitter.ts';
import { ClientError, LoginError, SendError } from './errors.ts';
import { Link } from './link.ts';
import type { TlsClientOptions } from './socket.ts';
import { backoffDelay, readReconnectOptions, type ReconnectOptions, type ReconnectPolicy } from './reconnect.ts';
import type { Delivery, ServerFrame, StatusReport } from './server-frames.ts';

export { parseServerAddress, formatServerAddress, type ServerAddress, type SocketAddress, type WebSocketAddress } from './address.ts';
export { ClientError, LoginError, SendError, isClientError, type ClientErrorCode } from './errors.ts';
export type { Delivery, StatusReport } from './server-frames.ts';
export type { ReconnectOptions } from './reconnect.ts';

export interface ConnectOptions {
  /** '127.0.0.1:2220', '[::1]:2221', 'unix:/path', 'tls://host:2230', 'ws://host:port/path', or { host, port, tls? } | { path } | { url }. */
  readonly server: string | ServerAddress;
  /** tls:// only: PEM text of the CAs that sign the server's certificate (default: the system's). */
  readonly ca?: TlsClientOptions['ca'];
  readonly username: string;
  readonly password: string;
  /** For the socket to open and the login to be answered (each reconnect attempt too). Default 10 s. */
  readonly timeoutMs?: number;
  /** Default deadline of send() for its status report. Default 30 s. */
  readonly sendTimeoutMs?: number;
  /** Reconnect after an unexpected close (off by default). `true` uses the defaults. */
  readonly reconnect?: boolean | ReconnectOptions;
  /** Unread deliveries an iterator holds before reading from the server pauses. Default 10,000. */
  readonly maxBufferedDeliveries?: number;
  /** Largest frame accepted from the server. Default 16 MiB. */
  readonly maxFrameBytes?: number;
  /** Bytes queued for a server that is not reading before send() refuses more. Default 16 MiB. */
  readonly maxOutboundBytes?: number;
}

export interface SendOptions {
  /** The message id; generated when left out. It must not be waiting for an answer already. */
  readonly id?: string;
  /** How long to wait for the status report (default: sendTimeoutMs of connect()). */
  readonly timeoutMs?: number;
  /** Reject with a SendError on a `bad` report instead of resolving with it. */
  readonly throwOnBad?: boolean;
}

export type ClientEvents = {
  /** A delivery (§3.4). */
  delivery: [delivery: Delivery];
  /** The client is closed for good: null after close(), else the error that ended it. */
  close: [error: Error | null];
  /** The connection dropped and the client is reconnecting (only with `reconnect`). */
  disconnect: [error: Error];
  /** Logged in again after a disconnect; `attempt` counts from 1. */
  reconnect: [attempt: number];
  /** A failed reconnect attempt. Only emitted when someone listens (never thrown). */
  error: [error: Error];
};

interface Pending {
  readonly resolve: (report: StatusReport) => void;
  readonly reject: (err: Error) => void;
  readonly timer: ReturnType<typeof setTimeout> | null;
  readonly throwOnBad: boolean;
}

type State = 'open' | 'reconnecting' | 'closing' | 'closed';

/** 8 hex digits from the platform's CSPRNG (Web Crypto: in browsers and in Node). */
function randomHex(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(4));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class BesterClient extends Emitter<ClientEvents> {
  readonly address: ServerAddress;
  readonly username: string;
  /** Resolves when the client is closed for good: null after close(), else the error that ended it. */
  readonly closed: Promise<Error | null>;
  readonly #password: string;
  readonly #timeoutMs: number;
  readonly #sendTimeoutMs: number;
  readonly #maxFrameBytes: number;
  readonly #ca: TlsClientOptions['ca'];
  readonly #maxOutboundBytes: number;
  readonly #reconnect: ReconnectPolicy | null;
  readonly #pending = new Map<string, Pending>();
  readonly #streams: DeliveryStreams;
  readonly #idPrefix = randomHex();
  #nextId = 0;
  #state: State = 'open';
  #link: Link | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #connecting: AbortController | null = null;
  #closing: Promise<void> | null = null;
  #markClosed: (err: Error | null) => void = () => undefined;

  private constructor(options: ConnectOptions) {
    super();
    this.address = toServerAddress(options.server);
    this.username = options.username;
    this.#password = options.password;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
    this.#maxFrameBytes = options.maxFrameBytes ?? 16 * 1024 * 1024;
    this.#ca = options.ca;
    this.#maxOutboundBytes = options.maxOutboundBytes ?? 16 * 1024 * 1024;
    this.#reconnect = readReconnectOptions(options.reconnect);
    this.#streams = new DeliveryStreams({
      highWater: options.maxBufferedDeliveries ?? 10_000,
      pause: () => this.#link?.pause(),
      resume: () => this.#link?.resume(),
    });
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
  }

  /** Opens the connection and logs in. Use the module's `connect()`. */
  static async connect(options: ConnectOptions): Promise<BesterClient> {
    const client = new BesterClient(options);
    client.#link = await client.#openLink();
    return client;
  }

  /** Logged in now (false while reconnecting and after close). */
  get connected(): boolean {
    return this.#state === 'open' && this.#link !== null;
  }

  /**
   * Sends one message (§3.1) and resolves with its status report (§3.3): a `bad` report is an answer,
   * not a failure, unless `throwOnBad`. Rejects on timeout, when not connected, and when the
   * connection closes first. `data` is any JSON value; undefined is sent as null.
   */
  send(type: string, data: unknown, options: SendOptions = {}): Promise<StatusReport> {
    if (typeof type !== 'string' || type === '') return Promise.reject(new TypeError('the message type must be a non-empty string'));
    const link = this.#state === 'open' ? this.#link : null;
    if (link === null) return Promise.reject(this.#notConnected());
    const id = options.id ?? `${this.#idPrefix}-${++this.#nextId}`;
    if (this.#pending.has(id)) {
      return Promise.reject(new ClientError('duplicate_id', `message id ${JSON.stringify(id)} is still waiting for its answer`));
    }
    let frame: string;
    try {
      frame = JSON.stringify({ header: {}, payload: { type, id, data: data ?? null } });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new TypeError(String(err)));
    }
    return new Promise<StatusReport>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.#sendTimeoutMs;
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            this.#pending.delete(id);
            reject(new ClientError('timeout', `no status report for message ${JSON.stringify(id)} within ${timeoutMs} ms`));
          }, timeoutMs)
        : null;
      this.#pending.set(id, { resolve, reject, timer, throwOnBad: options.throwOnBad === true });
      const sent = link.send(frame);
      if (sent === 'sent') return;
      this.#settle(id, null, sent === 'full'
        ? new ClientError('send_buffer_full', `more than ${this.#maxOutboundBytes} bytes wait to be sent to ${link.label}`)
        : this.#notConnected());
    });
  }

  /**
   * Deliveries that arrive from now on, until the client closes. Several iterators each get every
   * delivery. An iterator that is not read holds the connection: once one holds
   * maxBufferedDeliveries, reading from the server pauses until it catches up (leave the loop with
   * `break` to let go of it).
   */
  deliveries(): AsyncIterableIterator<Delivery, undefined> {
    return this.#streams.iterator();
  }

  /** Ends the connection cleanly and stops reconnecting. Idempotent; resolves when the socket is closed. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#connecting?.abort();
    this.#rejectAll(new ClientError('connection_closed', 'the client was closed'));
    const link = this.#link;
    this.#link = null;
    if (link !== null) await link.close();
    this.#finish(null);
  }

  #openLink(): Promise<Link> {
    const link = this.#connecting = new AbortController();
    return Link.open(
      this.address,
      { username: this.username, password: this.#password },
      {
        timeoutMs: this.#timeoutMs,
        maxFrameBytes: this.#maxFrameBytes,
        maxOutboundBytes: this.#maxOutboundBytes,
        signal: link.signal,
        ...(this.#ca === undefined ? {} : { tls: { ca: this.#ca } }),
      },
      {
        frame: (frame) => this.#onFrame(frame),
        lost: (err) => this.#onLost(err),
      },
    ).finally(() => {
      if (this.#connecting === link) this.#connecting = null;
    });
  }

  #onFrame(frame: ServerFrame): void {
    switch (frame.kind) {
      case 'status': {
        const { report } = frame;
        const pending = this.#pending.get(report.id);
        if (pending === undefined) return; // its send timed out, or not ours
        const err = report.status === 'bad' && pending.throwOnBad
          ? new SendError(report.id, report.code ?? 'bad', report.reason ?? 'the server reported "bad"', report.undelivered)
          : null;
        this.#settle(report.id, err === null ? report : null, err);
        return;
      }
      case 'delivery':
        this.#streams.push(frame.delivery);
        this.emit('delivery', frame.delivery);
        return;
      default:
        return; // error frames end the link (see Link); frames of unknown kinds are ignored
    }
  }

  #onLost(err: ClientError): void {
    this.#link = null;
    this.#rejectAll(err);
    if (this.#state !== 'open') return;
    if (this.#reconnect === null) {
      this.#finish(err);
      return;
    }
    this.#state = 'reconnecting';
    this.emit('disconnect', err);
    this.#retry(1, err);
  }

  #retry(attempt: number, lastError: Error): void {
    const policy = this.#reconnect;
    if (policy === null || this.#state !== 'reconnecting') return;
    if (attempt > policy.maxAttempts) {
      this.#finish(new ClientError(
        'connection_closed',
        `gave up reconnecting to ${formatServerAddress(this.address)} after ${policy.maxAttempts} attempts: ${lastError.message}`,
        { cause: lastError },
      ));
      return;
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#openLink().then(
        (link) => {
          if (this.#state !== 'reconnecting') {
            void link.close();
            return;
          }
          this.#link = link;
          this.#state = 'open';
          if (this.#streams.paused) link.pause();
          this.emit('reconnect', attempt);
        },
        (err: unknown) => {
          if (this.#state !== 'reconnecting') return;
          const error = err instanceof Error ? err : new Error(String(err));
          // A refused password will be refused again; anything else may pass on a later attempt.
          if (error instanceof LoginError && error.code === 'auth_failed') {
            this.#finish(error);
            return;
          }
          if (this.listenerCount('error') > 0) this.emit('error', error);
          this.#retry(attempt + 1, error);
        },
      );
    }, backoffDelay(policy, attempt));
  }

  #settle(id: string, report: StatusReport | null, err: Error | null): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    if (pending.timer !== null) clearTimeout(pending.timer);
    if (report !== null) pending.resolve(report);
    else pending.reject(err ?? new Error('unreachable'));
  }

  #rejectAll(err: Error): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, null, err);
  }

  #notConnected(): ClientError {
    const why = this.#state === 'reconnecting' ? 'reconnecting' : 'the client is closed';
    return new ClientError('not_connected', `not connected to ${formatServerAddress(this.address)} (${why})`);
  }

  #finish(err: Error | null): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#streams.end();
    this.#markClosed(err);
    this.emit('close', err);
  }
}

/** Connects and logs in. Rejects with LoginError on a refused login, ClientError otherwise. */
export function connect(options: ConnectOptions): Promise<BesterClient> {
  return BesterClient.connect(options);
}
