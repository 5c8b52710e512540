// Write a Bester message handler as one async function (docs/handlers.md):
//
//   import { serveHandler, sendClients } from 'bester/handler';
//   await serveHandler(async (data) => sendClients([data.to], { text: data.text }));
//
// The SDK listens on the socket the daemon names (BESTER_HANDLER_SOCKET or the first argument),
// reads each request frame, calls the function and writes the reply in the shape original
// handlers use. A function that throws answers status "1" with the error text.
import { unlink, lstat } from 'node:fs/promises';
import net from 'node:net';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../protocol/frame.ts';

export interface HandlerReplyValue {
  readonly header: { readonly status: string; readonly command: { readonly type: string; readonly data: unknown }; readonly error?: string };
  readonly data: unknown;
}

/** Deliver `data` to every connection of each named user on this server. */
export function sendClients(users: readonly string[], data: unknown): HandlerReplyValue {
  return { header: { status: '0', command: { type: 'sendClients', data: users } }, data };
}

/** Pass `data` on to the handler of another message type, whose reply is carried out in turn. */
export function sendHandler(type: string, data: unknown): HandlerReplyValue {
  return { header: { status: '0', command: { type: 'sendHandler', data: type } }, data };
}

/** Forward `data` to other Bester servers ("host:port" or peer names). */
export function sendServers(servers: readonly string[], data: unknown): HandlerReplyValue {
  return { header: { status: '0', command: { type: 'sendServers', data: servers } }, data };
}

export type HandlerFunction = (data: unknown) => HandlerReplyValue | Promise<HandlerReplyValue>;

export interface ServeOptions {
  /** Defaults to $BESTER_HANDLER_SOCKET, then the first command-line argument. */
  readonly socketPath?: string;
  /** Largest request frame accepted (bytes); default 1 MiB. */
  readonly maxFrameBytes?: number;
  /** Called with errors the function threw (the sender got status "1" already). */
  readonly onError?: (err: unknown) => void;
}

export interface ServedHandler {
  readonly socketPath: string;
  close(): Promise<void>;
}

export function defaultSocketPath(): string | undefined {
  return process.env.BESTER_HANDLER_SOCKET ?? process.argv[2];
}

export async function serveHandler(fn: HandlerFunction, options: ServeOptions = {}): Promise<ServedHandler> {
  const socketPath = options.socketPath ?? defaultSocketPath();
  if (!socketPath) throw new Error('no socket path: set BESTER_HANDLER_SOCKET or pass it as the first argument');
  const maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024;
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(
      {
        frame: (body) => {
          answer(fn, body, options.onError).then(
            (reply) => {
              if (!socket.destroyed) socket.write(encodeFrame(reply));
            },
            () => socket.destroy(),
          );
        },
        error: () => socket.destroy(),
      },
      maxFrameBytes,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  });
  server.on('error', () => undefined);
  const stat = await lstat(socketPath).catch(() => null);
  if (stat?.isSocket()) await unlink(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => server.close(() => resolve())).then(() =>
      unlink(socketPath).catch(() => undefined),
    ));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void close().then(() => process.exit(0));
    });
  }
  return { socketPath, close };
}

async function answer(fn: HandlerFunction, body: Buffer, onError?: (err: unknown) => void): Promise<unknown> {
  try {
    return await fn(parseFrameJson(body));
  } catch (err) {
    onError?.(err);
    return { header: { status: '1', error: err instanceof Error ? err.message : String(err) }, data: null };
  }
}
