// One logged-in connection to a server, for the client SDK: open the socket, log in
// (docs/protocol.md §2.2), then hand each validated frame to the owner until the connection ends.
// The framing is the daemon's own FrameConnection (src/framing/frame-connection.ts).
import { AUTH_ID } from '../protocol/builders.ts';
import { BesterError } from '../protocol/errors.ts';
import { FrameConnection } from '../framing/frame-connection.ts';
import { encodeFrame, parseFrameJson } from '../protocol/frame.ts';
import type { Credentials } from '../protocol/messages.ts';
import { formatServerAddress, type ServerAddress } from './address.ts';
import { ClientError, LoginError } from './errors.ts';
import { readServerFrame, type ServerFrame } from './server-frames.ts';
import { describeSocketError, openSocket, type TlsClientOptions } from './socket.ts';

export interface LinkOptions {
  /** For the socket to open and the login to be answered. */
  readonly timeoutMs: number;
  readonly maxFrameBytes: number;
  readonly maxOutboundBytes: number;
  readonly signal?: AbortSignal;
  /** For tls:// addresses (socket.ts). */
  readonly tls?: TlsClientOptions;
}

export interface LinkEvents {
  /** A frame after the login, already validated. */
  frame(frame: ServerFrame): void;
  /** The connection is gone (called once, after the login succeeded); `err` says why. */
  lost(err: ClientError): void;
}

type SendResult = 'sent' | 'full' | 'closed';

export class Link {
  readonly label: string;
  readonly #socket: { readonly writableLength: number };
  readonly #maxOutboundBytes: number;
  #conn: FrameConnection | null = null;
  #events: LinkEvents | null = null;
  /** Frames that arrived after the login answer, handed out on the next turn of the event loop (see #release). */
  #held: ServerFrame[] | null = null;
  #heldLoss: ClientError | null = null;
  #pausedByOwner = false;
  #fatal: ClientError | null = null;
  #lost = false;
  readonly #closed: Promise<void>;
  #markClosed: () => void = () => undefined;

  private constructor(label: string, socket: { readonly writableLength: number }, maxOutboundBytes: number) {
    this.label = label;
    this.#socket = socket;
    this.#maxOutboundBytes = maxOutboundBytes;
    this.#closed = new Promise((resolve) => (this.#markClosed = resolve));
  }

  /** Opens a socket and logs in. Rejects with LoginError when the server refuses the login. */
  static async open(address: ServerAddress, credentials: Credentials, options: LinkOptions, events: LinkEvents): Promise<Link> {
    const label = formatServerAddress(address);
    const started = Date.now();
    const socket = await openSocket(address, options.timeoutMs, options.signal, options.tls);
    if (options.signal?.aborted === true) {
      socket.destroy();
      throw new ClientError('connection_closed', `connecting to ${label} was cancelled`);
    }
    const link = new Link(label, socket, options.maxOutboundBytes);
    return new Promise<Link>((resolve, reject) => {
      let settled = false;
      const settle = (err: ClientError | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (err === null) {
          link.#events = events;
          link.#hold();
          resolve(link);
          return;
        }
        link.#conn?.destroy();
        reject(err);
      };
      const left = Math.max(1, options.timeoutMs - (Date.now() - started));
      const timer = setTimeout(() => {
        settle(new ClientError('timeout', `no login answer from ${label} within ${options.timeoutMs} ms`));
      }, left);
      const onAbort = (): void => settle(new ClientError('connection_closed', `connecting to ${label} was cancelled`));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      link.#conn = new FrameConnection(
        socket,
        label,
        {
          frame: (body) => {
            if (settled) link.#onFrame(body);
            else settle(loginAnswer(body, label));
          },
          protocolError: (err) => {
            const fail = new ClientError('bad_server_frame', `${label} broke the framing: ${err.message}`, { cause: err });
            if (settled) link.#fail(fail);
            else settle(fail);
          },
          ended: () => link.#conn?.close(),
          closed: (err) => {
            link.#markClosed();
            if (!settled) {
              settle(
                err
                  ? new ClientError('connection_closed', `connection to ${label} lost during the login: ${describeSocketError(err)}`)
                  : new ClientError(
                      'connection_closed',
                      `${label} closed the connection during the login (an original besterd does this when it refuses a login)`,
                    ),
              );
              return;
            }
            link.#onClosed(err);
          },
        },
        { maxFrameBytes: options.maxFrameBytes, maxOutboundBytes: options.maxOutboundBytes },
      );
      link.#conn.send(loginFrame(credentials));
    });
  }

  get isOpen(): boolean {
    return this.#conn?.isOpen === true;
  }

  /** Queues one encoded frame: 'full' when more than maxOutboundBytes would wait to be written. */
  send(frame: Buffer): SendResult {
    const conn = this.#conn;
    if (conn === null || !conn.isOpen) return 'closed';
    if (this.#socket.writableLength + frame.length > this.#maxOutboundBytes) return 'full';
    return conn.sendFrame(frame) ? 'sent' : 'closed';
  }

  pause(): void {
    this.#pausedByOwner = true;
    this.#conn?.pause();
  }

  resume(): void {
    this.#pausedByOwner = false;
    if (this.#held === null) this.#conn?.resume();
  }

  /** Ends the connection cleanly (flushes what was sent); resolves once the socket is closed. */
  close(): Promise<void> {
    this.#conn?.close();
    return this.#closed;
  }

  /**
   * Frames that came in the same read as the login answer are held until the next turn of the event
   * loop, so that code right after `await connect()` can add its 'delivery' listener or iterator first.
   */
  #hold(): void {
    this.#held = [];
    this.#conn?.pause();
    setImmediate(() => {
      const held = this.#held ?? [];
      this.#held = null;
      for (const frame of held) this.#dispatch(frame);
      if (this.#heldLoss !== null) this.#lose(this.#heldLoss);
      else if (!this.#pausedByOwner) this.#conn?.resume();
    });
  }

  #onFrame(body: Buffer): void {
    let value: unknown;
    try {
      value = parseFrameJson(body);
    } catch (err) {
      this.#fail(new ClientError('bad_server_frame', `${this.label} sent ${(err as BesterError).message}`, { cause: err }));
      return;
    }
    const read = readServerFrame(value);
    if (!read.ok) {
      this.#fail(new ClientError('bad_server_frame', `${this.label} sent ${read.reason}`));
      return;
    }
    const frame = read.frame;
    if (frame.kind === 'ping') {
      // §5.3: answered here at once and never handed to the owner. (While the owner holds the link paused,
      // nothing is read, pings included: a client that stops reading for minutes is closed by the server.)
      this.send(encodeFrame({ header: {}, payload: { type: 'pong', id: frame.id, data: null } }));
      return;
    }
    // §3.5: an error frame is followed by the server's close; its reason is why the connection ended.
    if (frame.kind === 'error') {
      this.#fatal ??= new ClientError(frame.code, `${this.label} closed the connection: ${frame.reason}`);
      this.#conn?.close();
    }
    if (this.#held !== null) this.#held.push(frame);
    else this.#dispatch(frame);
  }

  #dispatch(frame: ServerFrame): void {
    if (!this.#lost) this.#events?.frame(frame);
  }

  /** The server is not speaking Bester: give up on this connection. */
  #fail(err: ClientError): void {
    this.#fatal ??= err;
    this.#conn?.destroy();
  }

  #onClosed(err: Error | null): void {
    const reason =
      this.#fatal ??
      (err
        ? new ClientError('connection_closed', `connection to ${this.label} lost: ${describeSocketError(err)}`, { cause: err })
        : new ClientError('connection_closed', `${this.label} closed the connection`));
    if (this.#held !== null) this.#heldLoss = reason;
    else this.#lose(reason);
  }

  #lose(err: ClientError): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#events?.lost(err);
  }
}

function loginFrame(credentials: Credentials): object {
  return {
    // `features` (§2.2): this SDK answers the server's pings (§5.3).
    header: {
      scope: 'client',
      authentication: { username: credentials.username, password: credentials.password },
      features: ['ping'],
    },
    payload: { type: 'login', id: 'login', data: null },
  };
}

/** null when the login was accepted, else why not (§2.2, §2.3; an error frame §3.5 refuses it too). */
function loginAnswer(body: Buffer, label: string): ClientError | null {
  let read;
  try {
    read = readServerFrame(parseFrameJson(body));
  } catch (err) {
    return new ClientError('bad_server_frame', `${label} answered the login with ${(err as BesterError).message}`, { cause: err });
  }
  if (!read.ok) return new ClientError('bad_server_frame', `${label} answered the login with ${read.reason}`);
  const frame = read.frame;
  if (frame.kind === 'error') return new LoginError(frame.code, frame.reason);
  if (frame.kind === 'status' && frame.report.id === AUTH_ID) {
    if (frame.report.status === 'good') return null;
    return new LoginError(frame.report.code ?? 'auth_failed', frame.report.reason ?? 'authentication failed');
  }
  return new ClientError('bad_server_frame', `${label} did not answer the login (got a ${frame.kind} frame first)`);
}
