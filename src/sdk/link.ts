// One logged-in connection to a server, for the client SDK: open a transport (a framed socket or a
// WebSocket, src/sdk/transport.ts), log in (docs/protocol.md §2.2), then hand each validated frame to
// the owner until the connection ends. Nothing here is Node-only: the browser runs it too.
import { AUTH_ID } from '../protocol/builders.ts';
import type { Credentials } from '../protocol/messages.ts';
import { formatServerAddress, type ServerAddress } from './address.ts';
import { ClientError, LoginError } from './errors.ts';
import { readServerFrame, type ServerFrame } from './server-frames.ts';
import type { TlsClientOptions } from './socket.ts';
import { openTransport, type SendResult, type Transport, type TransportLoss } from './transport.ts';

/** The next turn of the event loop: setImmediate in Node, a zero timeout where there is none (browsers). */
const nextTurn: (fn: () => void) => void =
  typeof globalThis.setImmediate === 'function' ? (fn) => void globalThis.setImmediate(fn) : (fn) => void setTimeout(fn, 0);

/** A frame's JSON text parsed (§1.3), or why it is not JSON. */
function parseText(text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly cause: unknown } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (cause) {
    return { ok: false, cause };
  }
}

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

export class Link {
  readonly label: string;
  readonly #conn: Transport;
  #events: LinkEvents | null = null;
  /** Frames that arrived after the login answer, handed out on the next turn of the event loop (see #release). */
  #held: ServerFrame[] | null = null;
  #heldLoss: ClientError | null = null;
  #pausedByOwner = false;
  #fatal: ClientError | null = null;
  #lost = false;
  readonly #closed: Promise<void>;
  #markClosed: () => void = () => undefined;

  private constructor(label: string, conn: Transport) {
    this.label = label;
    this.#conn = conn;
    this.#closed = new Promise((resolve) => (this.#markClosed = resolve));
  }

  /** Opens the connection and logs in. Rejects with LoginError when the server refuses the login. */
  static async open(address: ServerAddress, credentials: Credentials, options: LinkOptions, events: LinkEvents): Promise<Link> {
    const label = formatServerAddress(address);
    const started = Date.now();
    const conn = await openTransport(address, options);
    if (options.signal?.aborted === true) {
      conn.destroy();
      throw new ClientError('connection_closed', `connecting to ${label} was cancelled`);
    }
    const link = new Link(label, conn);
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
        conn.destroy();
        reject(err);
      };
      const left = Math.max(1, options.timeoutMs - (Date.now() - started));
      const timer = setTimeout(() => {
        settle(new ClientError('timeout', `no login answer from ${label} within ${options.timeoutMs} ms`));
      }, left);
      const onAbort = (): void => settle(new ClientError('connection_closed', `connecting to ${label} was cancelled`));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      conn.start({
        text: (text) => {
          if (settled) link.#onText(text);
          else settle(loginAnswer(text, label));
        },
        invalid: (what) => {
          const fail = new ClientError('bad_server_frame', `${label} sent ${what}`);
          if (settled) link.#fail(fail);
          else settle(fail);
        },
        broken: (err) => {
          const fail = new ClientError('bad_server_frame', `${label} broke the framing: ${err.message}`, { cause: err });
          if (settled) link.#fail(fail);
          else settle(fail);
        },
        closed: (loss) => {
          link.#markClosed();
          if (!settled) {
            settle(
              loss
                ? new ClientError('connection_closed', `connection to ${label} lost during the login: ${loss.reason}`)
                : new ClientError(
                    'connection_closed',
                    `${label} closed the connection during the login (an original besterd does this when it refuses a login)`,
                  ),
            );
            return;
          }
          link.#onClosed(loss);
        },
      });
      if (conn.send(JSON.stringify(loginFrame(credentials))) !== 'sent') settle(new ClientError('connection_closed', `${label} closed the connection before the login`));
    });
  }

  get isOpen(): boolean {
    return this.#conn.isOpen;
  }

  /** Queues one frame's JSON text: 'full' when more than maxOutboundBytes would wait to be written. */
  send(json: string): SendResult {
    return this.#conn.send(json);
  }

  pause(): void {
    this.#pausedByOwner = true;
    this.#conn.pause();
  }

  resume(): void {
    this.#pausedByOwner = false;
    if (this.#held === null) this.#conn.resume();
  }

  /** Ends the connection cleanly (flushes what was sent); resolves once the socket is closed. */
  close(): Promise<void> {
    this.#conn.close();
    return this.#closed;
  }

  /**
   * Frames that came in the same read as the login answer are held until the next turn of the event
   * loop, so that code right after `await connect()` can add its 'delivery' listener or iterator first.
   */
  #hold(): void {
    this.#held = [];
    this.#conn.pause();
    nextTurn(() => {
      const held = this.#held ?? [];
      this.#held = null;
      for (const frame of held) this.#dispatch(frame);
      if (this.#heldLoss !== null) this.#lose(this.#heldLoss);
      else if (!this.#pausedByOwner) this.#conn.resume();
    });
  }

  #onText(text: string): void {
    const parsed = parseText(text);
    if (!parsed.ok) {
      this.#fail(new ClientError('bad_server_frame', `${this.label} sent frame is not valid JSON`, { cause: parsed.cause }));
      return;
    }
    const read = readServerFrame(parsed.value);
    if (!read.ok) {
      this.#fail(new ClientError('bad_server_frame', `${this.label} sent ${read.reason}`));
      return;
    }
    const frame = read.frame;
    if (frame.kind === 'ping') {
      // §5.3: answered here at once and never handed to the owner. (While the owner holds the link paused,
      // nothing is read, pings included: a client that stops reading for minutes is closed by the server.)
      this.send(JSON.stringify({ header: {}, payload: { type: 'pong', id: frame.id, data: null } }));
      return;
    }
    // §3.5: an error frame is followed by the server's close; its reason is why the connection ended.
    if (frame.kind === 'error') {
      this.#fatal ??= new ClientError(frame.code, `${this.label} closed the connection: ${frame.reason}`);
      this.#conn.close();
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
    this.#conn.destroy();
  }

  #onClosed(loss: TransportLoss | null): void {
    const reason =
      this.#fatal ??
      (loss
        ? new ClientError('connection_closed', `connection to ${this.label} lost: ${loss.reason}`, { cause: loss.cause })
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
function loginAnswer(text: string, label: string): ClientError | null {
  const parsed = parseText(text);
  if (!parsed.ok) return new ClientError('bad_server_frame', `${label} answered the login with frame is not valid JSON`, { cause: parsed.cause });
  const read = readServerFrame(parsed.value);
  if (!read.ok) return new ClientError('bad_server_frame', `${label} answered the login with ${read.reason}`);
  const frame = read.frame;
  if (frame.kind === 'error') return new LoginError(frame.code, frame.reason);
  if (frame.kind === 'status' && frame.report.id === AUTH_ID) {
    if (frame.report.status === 'good') return null;
    return new LoginError(frame.report.code ?? 'auth_failed', frame.report.reason ?? 'authentication failed');
  }
  return new ClientError('bad_server_frame', `${label} did not answer the login (got a ${frame.kind} frame first)`);
}
