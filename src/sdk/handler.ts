// The handler SDK (`bester/handler`): write a Bester message handler as one function
// (docs/handlers.md). The wire contract is docs/protocol.md §4.
//
//   import { serveHandler, sendClients } from 'bester/handler';
//   await serveHandler((data, { sender }) => sendClients(['bob'], { from: sender, data }));
//
// serveHandler listens on the handler's UNIX socket (options.socketPath, else
// BESTER_HANDLER_SOCKET, else the first command-line argument), reads each request frame, calls
// the function and writes its reply in the shape original handlers use (§4.2). A function that
// throws answers status "1" with the error text (the sender then gets `bad`, `handler_error`).
// It imports protocol/ and framing/ only, never server/: a handler is a separate program.
import { chmod } from 'node:fs/promises';
import net from 'node:net';
import { ENDED_MID_FRAME, FrameConnection, UNBOUNDED } from '../framing/frame-connection.ts';
import { encodeJsonFrame } from '../protocol/frame.ts';
import { MULTIPLEX_GREETING_JSON, offersMultiplex } from '../protocol/handler-multiplex.ts';
import { answer, answerRequest, isAcceptance, replyError, report } from './handler-answer.ts';
import { MultiplexSession } from './handler-multiplex.ts';
import { DEFAULT_MAX_FRAME_BYTES, listenReplacingStale, removeSocketFile } from './handler-socket.ts';

export { askHandler, DEFAULT_MAX_FRAME_BYTES, type AskOptions } from './handler-socket.ts';
export { readRequest, replyError } from './handler-answer.ts';

/** What each request holds: the message's data (the original's), or an envelope with the sender (§4.4). */
export type HandlerInput = 'data' | 'envelope';

/**
 * How the daemon talks to this handler (docs/protocol.md §4.5): 'original' (one request per
 * connection, or several one after another) or 'multiplex' (multiplex/1: greet on each connection;
 * once the daemon accepts, many requests at once, answered by id; a daemon that does not accept
 * is answered the original way).
 */
export type HandlerProtocol = 'original' | 'multiplex';

export type HandlerCommandName = 'sendClients' | 'sendHandler' | 'sendServers';

/** A successful reply (§4.2): where the result goes, and the result. */
export interface CommandReply {
  readonly header: { readonly status: '0'; readonly command: { readonly type: HandlerCommandName; readonly data: unknown } };
  readonly data: unknown;
}

/** A failed reply (§4.2.1): any non-zero status; the daemon answers the sender `bad` / `handler_error`. */
export interface ErrorReply {
  readonly header: { readonly status: string; readonly error: string };
  readonly data: null;
}

export type HandlerReplyValue = CommandReply | ErrorReply;

/** Who sent the message being handled, and as what. */
export interface HandlerContext {
  /** The user the sender's connection logged in as (verified by the daemon). Envelope input only: null in data input, and for a server-scope message. */
  readonly sender: string | null;
  /** The message type this handler serves: from the envelope, else options.type, else BESTER_HANDLER_TYPE ('' if none). */
  readonly type: string;
  /** The sender's message id (envelope input only; null otherwise). */
  readonly id: string | null;
}

export type HandlerFunction = (data: unknown, context: HandlerContext) => HandlerReplyValue | Promise<HandlerReplyValue>;

export interface ServeOptions {
  /** Default: $BESTER_HANDLER_SOCKET, then the first command-line argument. */
  readonly socketPath?: string;
  /** Default: $BESTER_HANDLER_INPUT (set by the daemon for handlers it starts), else 'data'. */
  readonly input?: HandlerInput;
  /** The type served, for context.type in data input. Default: $BESTER_HANDLER_TYPE. */
  readonly type?: string;
  /** Largest request frame accepted, in bytes (default 1 MiB). A larger one is answered status "1", then closed. */
  readonly maxFrameBytes?: number;
  /** Stop on SIGTERM/SIGINT: close, remove the socket file, exit 0 (default true). Turn off to serve several handlers in one process. */
  readonly handleSignals?: boolean;
  /** File mode of the socket (default 0o600: only this user, i.e. the daemon started by it, can connect). */
  readonly socketMode?: number;
  /** A connection that sends nothing for this long while no request is running is closed (default 60000; 0: never). */
  readonly idleTimeoutMs?: number;
  /** Default: 'multiplex' when $BESTER_HANDLER_PROTOCOLS offers multiplex/1 (the daemon does for handlers it starts), else 'original'. */
  readonly protocol?: HandlerProtocol;
  /** Called with what the function threw, or why a request was refused (the daemon got status "1" already). */
  readonly onError?: (err: unknown, context: HandlerContext | null) => void;
}

export interface ServedHandler {
  readonly socketPath: string;
  readonly input: HandlerInput;
  readonly protocol: HandlerProtocol;
  /** Connections accepted so far (with multiplex/1 the daemon keeps a few open for many calls). */
  readonly connectionsAccepted: number;
  /** Stops accepting, lets running requests answer (at most 2 s), removes the socket file. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** How long close() lets running requests finish before their connections are cut. */
const CLOSE_GRACE_MS = 2000;
/** A UNIX socket path is at most 107 bytes on Linux (sun_path is 108 with the NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/** Deliver `data` to every connection of each named user on this server (§4.3.1). An empty list delivers nothing and is a success. */
export function sendClients(users: readonly string[], data: unknown): CommandReply {
  return { header: { status: '0', command: { type: 'sendClients', data: [...users] } }, data };
}

/** Pass `data` on to the handler of another message type, whose reply is carried out in turn (§4.3.2). */
export function sendHandler(type: string, data: unknown): CommandReply {
  return { header: { status: '0', command: { type: 'sendHandler', data: type } }, data };
}

/** Forward `data` to other Bester servers, as "host:port" (§4.3.3). */
export function sendServers(servers: readonly string[], data: unknown): CommandReply {
  return { header: { status: '0', command: { type: 'sendServers', data: [...servers] } }, data };
}

/** $BESTER_HANDLER_SOCKET, else the first command-line argument; undefined if neither is set. */
export function defaultSocketPath(): string | undefined {
  return nonEmpty(process.env.BESTER_HANDLER_SOCKET) ?? nonEmpty(process.argv[2]);
}

export interface ResolvedServeOptions {
  readonly socketPath: string;
  readonly input: HandlerInput;
  readonly type: string;
  readonly maxFrameBytes: number;
  readonly handleSignals: boolean;
  readonly socketMode: number;
  readonly idleTimeoutMs: number;
  readonly protocol: HandlerProtocol;
}

/** Options over environment over command line, every default in one place. Throws on a value that cannot work. */
export function resolveServeOptions(
  options: ServeOptions = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
  argv: readonly string[] = process.argv,
): ResolvedServeOptions {
  const socketPath = nonEmpty(options.socketPath) ?? nonEmpty(env.BESTER_HANDLER_SOCKET) ?? nonEmpty(argv[2]);
  if (socketPath === undefined) {
    throw new Error('no socket path: pass options.socketPath, set BESTER_HANDLER_SOCKET, or give it as the first argument');
  }
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter one`);
  }
  const envInput = nonEmpty(env.BESTER_HANDLER_INPUT);
  const input = options.input ?? envInput ?? 'data';
  if (input !== 'data' && input !== 'envelope') {
    throw new Error(`BESTER_HANDLER_INPUT must be "data" or "envelope", got ${JSON.stringify(input)}`);
  }
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1) throw new Error('maxFrameBytes must be a positive integer');
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  if (!Number.isInteger(idleTimeoutMs) || idleTimeoutMs < 0) throw new Error('idleTimeoutMs must be an integer >= 0');
  const protocol = options.protocol ?? (offersMultiplex(env.BESTER_HANDLER_PROTOCOLS) ? 'multiplex' : 'original');
  if (protocol !== 'original' && protocol !== 'multiplex') throw new Error(`protocol must be "original" or "multiplex", got ${JSON.stringify(protocol)}`);
  return {
    socketPath,
    input,
    protocol,
    type: options.type ?? env.BESTER_HANDLER_TYPE ?? '',
    maxFrameBytes,
    handleSignals: options.handleSignals ?? true,
    socketMode: options.socketMode ?? 0o600,
    idleTimeoutMs,
  };
}

/** Listens on the handler socket and serves requests until close() (or SIGTERM/SIGINT). */
export async function serveHandler(fn: HandlerFunction, options: ServeOptions = {}): Promise<ServedHandler> {
  const settings = resolveServeOptions(options);
  const connections = new Map<net.Socket, Connection>();
  let closing = false;
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    accepted++;
    const connection = serveConnection(socket, fn, settings, options.onError);
    connections.set(socket, connection);
    socket.on('close', () => connections.delete(socket));
  });
  server.on('error', () => undefined); // listen errors are handled in listenOnce; later ones cannot happen on a bound socket
  const listening = listenReplacingStale(server, settings.socketPath).then(() =>
    chmod(settings.socketPath, settings.socketMode).catch(() => undefined),
  );

  // Signals are taken before listening: a SIGTERM that comes as soon as the socket accepts
  // (the daemon may see it listening at once) still closes cleanly.
  const signals = ['SIGTERM', 'SIGINT'] as const;
  const onSignal = (): void => {
    void close().then(() => process.exit(0));
  };
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      if (settings.handleSignals) for (const signal of signals) process.off(signal, onSignal);
      if (!(await listening.then(() => true, () => false))) return;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of connections.values()) connection.finish();
      const timer = setTimeout(() => {
        for (const socket of connections.keys()) socket.destroy();
      }, CLOSE_GRACE_MS);
      await stopped;
      clearTimeout(timer);
      await removeSocketFile(settings.socketPath);
    })();
    return closed;
  };
  if (settings.handleSignals) for (const signal of signals) process.on(signal, onSignal);
  try {
    await listening;
  } catch (err) {
    await close();
    throw err;
  }
  return {
    socketPath: settings.socketPath,
    input: settings.input,
    protocol: settings.protocol,
    get connectionsAccepted() {
      return accepted;
    },
    close,
  };
}

interface Connection {
  /** Answer the request running (if any), then close; requests not started are dropped. */
  finish(): void;
}

/**
 * One connection from the daemon: requests are answered one at a time, in order (the original
 * daemon sends one and closes; a later one may send several). Reading pauses while a request runs,
 * so a peer cannot queue more than one chunk of requests.
 */
function serveConnection(
  socket: net.Socket,
  fn: HandlerFunction,
  settings: ResolvedServeOptions,
  onError: ServeOptions['onError'],
): Connection {
  const queue: Buffer[] = [];
  let busy = false;
  let ended = false;
  let finishing = false;
  /** Framing broke (oversize, empty frame): answered once the queue is done, then the connection closes. */
  let fatal: string | null = null;
  /** §4.5.1: greeted, and the daemon's first frame decides whether it accepted multiplex/1. */
  let awaitingAcceptance = settings.protocol === 'multiplex';
  let multiplex: MultiplexSession | null = null;
  socket.on('error', () => socket.destroy());
  if (settings.idleTimeoutMs > 0) {
    socket.setTimeout(settings.idleTimeoutMs, () => {
      if (!busy) socket.destroy();
    });
  }
  const onEnded = (): void => {
    ended = true;
    if (multiplex) multiplex.finish();
    else if (!busy) void drain();
  };
  const conn = new FrameConnection(
    socket,
    settings.socketPath,
    {
      frame: (body) => {
        if (multiplex) {
          multiplex.request(body);
          return;
        }
        if (awaitingAcceptance) {
          awaitingAcceptance = false;
          if (isAcceptance(body)) {
            socket.setTimeout(0); // the daemon keeps these connections open and closes them itself
            multiplex = new MultiplexSession(
              conn,
              (input) => answerRequest(fn, input, settings, onError),
              (err) => replyError(err instanceof Error ? err.message : String(err)),
              (err) => report(onError, err, null),
            );
            return;
          }
        }
        queue.push(Buffer.from(body)); // the body may be a view into a chunk
        if (!busy) void drain();
      },
      protocolError: (err) => {
        // A daemon that stops in the middle of a request is done sending: what was whole is answered.
        if (err.message === ENDED_MID_FRAME) {
          onEnded();
          return;
        }
        fatal = err.message;
        report(onError, err, null);
        if (!busy) void drain();
      },
      ended: onEnded,
      closed: () => undefined, // serveHandler forgets the connection on the socket's 'close'
    },
    // Outbound bytes are bounded by answering one request at a time (MultiplexSession: MAX_RUNNING).
    { maxFrameBytes: settings.maxFrameBytes, maxOutboundBytes: UNBOUNDED },
  );
  if (awaitingAcceptance) conn.sendFrame(encodeJsonFrame(MULTIPLEX_GREETING_JSON));

  async function drain(): Promise<void> {
    busy = true;
    conn.pause();
    try {
      while (queue.length > 0 && !finishing && !socket.destroyed) {
        const reply = await answer(fn, queue.shift()!, settings, onError);
        if (socket.destroyed) return;
        await write(conn, reply);
      }
      if (fatal !== null && !socket.destroyed) {
        conn.send(replyError(`request refused: ${fatal}`));
        conn.close();
      } else if (ended || finishing) {
        conn.close();
      } else {
        conn.resume();
      }
    } catch {
      conn.destroy();
    } finally {
      busy = false;
    }
  }

  return {
    finish() {
      finishing = true;
      queue.length = 0;
      conn.pause(); // nothing new is read
      if (multiplex) {
        multiplex.finish();
        return;
      }
      if (!busy) conn.destroy(); // idle: nothing to answer
    },
  };
}

/** Writes and waits until the bytes are handed to the system (backpressure), or the socket is gone. */
function write(conn: FrameConnection, frame: Buffer): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!conn.sendFrame(frame, () => resolve())) resolve();
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
