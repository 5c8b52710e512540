// One call to a message handler, exactly as the original's handlers expect it
// (bester-original.md "Server -> handler"): a NEW connection to the handler's UNIX socket,
// ONE frame holding only the message's `payload.data`, ONE reply frame, then close.
import net from 'node:net';
import { BesterError } from '../../protocol/errors.ts';
import { encodeJsonFrame, FrameDecoder, parseFrameText } from '../../protocol/frame.ts';
import { jsonTextOf, type JsonData } from '../../protocol/json-text.ts';
import { isGreeting } from '../../protocol/handler-multiplex.ts';

export interface HandlerCallOptions {
  /** The whole call (connect, send, reply) must finish within this many ms. */
  timeoutMs: number;
  /** Largest reply frame accepted; checked from the length prefix, before buffering. */
  maxReplyBytes: number;
  /** Deepest nesting accepted in the reply's JSON (limits.maxJsonDepth); unlimited when absent. */
  maxJsonDepth?: number;
  /** Aborting it ends the call with 'shutting_down'. */
  signal?: AbortSignal;
}

/**
 * Resolves with the reply frame parsed as JSON, with its text (any JSON value; the caller validates the shape).
 * Rejects only with BesterError: 'handler_unavailable', 'handler_timeout', 'handler_bad_reply',
 * 'shutting_down' (and 'internal_error' if `data` cannot be serialised, which parsed input never is).
 * The socket is destroyed on every path; bytes after the first reply frame are ignored. A multiplex
 * greeting (docs/protocol.md §4.5.1) read as the first frame is skipped: the reply is the next one.
 */
export function callHandler(socketPath: string, data: unknown, options: HandlerCallOptions): Promise<JsonData> {
  return callOverSocket(socketPath, null, data, options);
}

/**
 * The same call on a connection already open (docs/protocol.md §4.5.1: the daemon waited for a
 * greeting that did not come). The request is written at once, even if the call was cancelled
 * meanwhile: an original handler must never see a connection that sends nothing.
 */
export function callOnConnectedSocket(
  socketPath: string,
  socket: net.Socket,
  data: unknown,
  options: HandlerCallOptions,
): Promise<JsonData> {
  return callOverSocket(socketPath, socket, data, options);
}

function callOverSocket(
  socketPath: string,
  open: net.Socket | null,
  data: unknown,
  options: HandlerCallOptions,
): Promise<JsonData> {
  return new Promise<JsonData>((resolve, reject) => {
    const { signal } = options;
    let frame: Buffer;
    try {
      frame = encodeJsonFrame(jsonTextOf(data));
    } catch (cause) {
      open?.destroy();
      reject(new BesterError('internal_error', 'message data is not JSON-serialisable', { cause }));
      return;
    }
    if (open) open.write(frame);
    if (signal?.aborted === true) {
      open?.end();
      reject(shuttingDown(socketPath));
      return;
    }

    let settled = false;
    let connected = open !== null;
    let firstFrame = true;
    const socket = open ?? net.createConnection({ path: socketPath });
    const decoder = new FrameDecoder(
      {
        frame(body) {
          const { maxJsonDepth } = options;
          let reply: JsonData;
          try {
            reply = parseFrameText(body, maxJsonDepth === undefined ? {} : { maxDepth: maxJsonDepth });
          } catch (cause) {
            settle(badReply(socketPath, `an unreadable reply: ${(cause as BesterError).message}`, cause));
            return;
          }
          const skip = firstFrame && isGreeting(reply.value);
          firstFrame = false;
          if (!skip) settle(null, reply);
        },
        error(err) {
          settle(badReply(socketPath, `an unusable reply frame: ${err.message}`, err));
        },
      },
      options.maxReplyBytes,
    );
    const onAbort = (): void => settle(shuttingDown(socketPath));
    const timer = setTimeout(() => {
      settle(
        new BesterError(
          'handler_timeout',
          `handler socket ${socketPath} did not reply within ${options.timeoutMs} ms`,
        ),
      );
    }, options.timeoutMs);

    /** The single exit: settles once, stops the timer, detaches the signal, destroys the socket. */
    function settle(err: BesterError | null, reply?: JsonData): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      decoder.stop();
      if (err) {
        socket.destroy();
        reject(err);
        return;
      }
      resolve(reply!);
      // After the result's deliveries are written (they go out at the end of this loop turn):
      // closing the handler's connection is not on the message's path.
      setTimeout(destroySocket, 0);
    }
    function destroySocket(): void {
      socket.destroy();
    }

    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        settle(
          new BesterError(
            'handler_unavailable',
            `handler socket ${socketPath} is not accepting connections (${err.code ?? err.message})`,
            { cause: err },
          ),
        );
      } else {
        settle(badReply(socketPath, `a connection error (${err.code ?? err.message})`, err));
      }
    });
    socket.on('connect', () => {
      connected = true;
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    // Built only when still unsettled: after a reply every call ends here, and an Error (its stack) costs.
    const onClosed = (): void => {
      if (!settled) settle(closedWithoutReply(socketPath, decoder.midFrame));
    };
    socket.on('end', onClosed);
    socket.on('close', onClosed);
  });
}

function shuttingDown(socketPath: string): BesterError {
  return new BesterError('shutting_down', `call to handler socket ${socketPath} cancelled: shutting down`);
}

function badReply(socketPath: string, what: string, cause: unknown): BesterError {
  return new BesterError('handler_bad_reply', `handler socket ${socketPath} sent ${what}`, { cause });
}

function closedWithoutReply(socketPath: string, midFrame: boolean): BesterError {
  const how = midFrame ? 'in the middle of its reply' : 'without a reply';
  return new BesterError('handler_bad_reply', `handler socket ${socketPath} closed the connection ${how}`);
}
