// Socket plumbing of the handler SDK (src/sdk/handler.ts): binding the handler's UNIX socket over
// a stale file, removing it on close, and asking a handler once, as the daemon does.
import { lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { FrameConnection, UNBOUNDED } from '../framing/frame-connection.ts';
import { encodeFrame, parseFrameJson } from '../protocol/frame.ts';

/** Largest request a handler accepts, and largest reply askHandler accepts, by default. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export interface AskOptions {
  /** Give up after this many ms (default 10000, like the daemon's call timeout). */
  readonly timeoutMs?: number;
  /** Largest reply accepted (default 1 MiB, like the daemon's limits.maxHandlerFrameBytes). */
  readonly maxFrameBytes?: number;
}

/**
 * Sends one request to a handler's socket and resolves with its reply, parsed, as the daemon would
 * (one connection, one frame each way). For trying or testing a handler without a daemon; in
 * envelope input, pass the whole envelope `{sender, type, id, data}`.
 */
export function askHandler(socketPath: string, request: unknown, options: AskOptions = {}): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise<unknown>((resolve, reject) => {
    let frame: Buffer;
    try {
      frame = encodeFrame(request);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    let settled = false;
    const socket = net.createConnection({ path: socketPath });
    const settle = (err: Error | null, reply?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      if (err) reject(err);
      else resolve(reply);
    };
    const timer = setTimeout(() => settle(new Error(`no reply from ${socketPath} within ${timeoutMs} ms`)), timeoutMs);
    const conn = new FrameConnection(
      socket,
      socketPath,
      {
        frame: (body) => {
          try {
            settle(null, parseFrameJson(body));
          } catch (err) {
            settle(err instanceof Error ? err : new Error(String(err)));
          }
        },
        protocolError: (err) => settle(err),
        ended: () => settle(new Error(`${socketPath} closed the connection without a reply`)),
        closed: (err) =>
          settle(
            err
              ? new Error(`cannot ask ${socketPath}: ${err.message}`, { cause: err })
              : new Error(`${socketPath} closed the connection without a reply`),
          ),
      },
      { maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, maxOutboundBytes: UNBOUNDED },
    );
    conn.sendFrame(frame); // queued until the socket connects
  });
}

/**
 * Binds the socket; a stale socket file left by a handler that died is removed first
 * (STYLE.md #16: only if it is a socket and nothing accepts on it). Another kind of file, or a
 * socket something serves, is an error.
 */
export async function listenReplacingStale(server: net.Server, socketPath: string): Promise<void> {
  const first = await listenOnce(server, socketPath);
  if (first === null) return;
  if (first.code !== 'EADDRINUSE') throw listenError(socketPath, first);
  const stats = await lstat(socketPath).catch(() => null);
  if (stats !== null && !stats.isSocket()) throw new Error(`cannot listen on ${socketPath}: it exists and is not a socket`);
  if (stats !== null && (await accepts(socketPath))) {
    throw new Error(`cannot listen on ${socketPath}: another process is serving it`);
  }
  await unlink(socketPath).catch(() => undefined);
  const second = await listenOnce(server, socketPath);
  if (second !== null) throw listenError(socketPath, second);
}

function listenOnce(server: net.Server, socketPath: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => resolve(err);
    server.once('error', onError);
    server.listen(socketPath, () => {
      server.off('error', onError);
      resolve(null);
    });
  });
}

function listenError(socketPath: string, err: NodeJS.ErrnoException): Error {
  const hint = err.code === 'ENOENT' ? ' (does its folder exist?)' : '';
  return new Error(`cannot listen on ${socketPath}: ${err.code ?? err.message}${hint}`, { cause: err });
}

/** Whether something accepts on the socket (connects and closes at once; 1 s at most). */
function accepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ path: socketPath });
    const done = (result: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.on('error', () => done(false));
    socket.on('connect', () => done(true));
  });
}

export async function removeSocketFile(socketPath: string): Promise<void> {
  try {
    if ((await lstat(socketPath)).isSocket()) await unlink(socketPath);
  } catch {
    // already gone (Node removes it when the server closes)
  }
}
