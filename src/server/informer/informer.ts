// The informer (docs/protocol.md §9): a UNIX socket on the daemon that handlers and `bester status`
// query out of band. Many requests per connection, answered in order. The socket is a unix
// listener like the others (stale files replaced, mode set, removed on close); who may connect
// is decided by its file mode.
import type { Duplex } from 'node:stream';
import { FrameConnection } from '../../framing/frame-connection.ts';
import type { Logger } from '../log.ts';
import { startListener } from '../transport/listener.ts';
import { runCommand, type CommandResult, type InformerContext } from './commands.ts';
import { failure, parseRequest, type InformerRequest } from './request.ts';

export type { InformerContext } from './commands.ts';

export interface Informer {
  /** Absolute path of the socket file. */
  readonly path: string;
  /** Stops accepting, closes every informer connection, removes the socket file. Idempotent. */
  close(): Promise<void>;
}

const MAX_OUTBOUND_BYTES = 8 * 1024 * 1024;

/** Binds the informer's socket (config.informer) and answers on it. */
export async function startInformer(ctx: InformerContext): Promise<Informer> {
  const { path, mode } = ctx.config.informer;
  const log = ctx.logger;
  const connections = new Set<InformerConnection>();
  let accepted = 0; // names the connections in the logs
  const listener = await startListener({ kind: 'unix', path, mode }, (socket) => {
    socket.on('error', () => undefined); // the connection adds its own; this covers the gap before it
    const connection = new InformerConnection(socket, ctx, log.child({ informerConn: ++accepted }), () => connections.delete(connection));
    connections.add(connection);
  });
  log.info({ address: listener.address }, 'informer listening');

  let closing: Promise<void> | null = null;
  const close = async (): Promise<void> => {
    const listenerClosed = listener.close(); // resolves once every connection is gone
    const gone = [...connections].map((c) => c.close());
    await Promise.all([listenerClosed, ...gone]);
  };
  return { path, close: () => (closing ??= close()) };
}

/** One informer connection: each frame is a request, answered at once and in order (§9.2). */
class InformerConnection {
  readonly #conn: FrameConnection;
  readonly #ctx: InformerContext;
  readonly #log: Logger;
  readonly #closed: Promise<void>;
  /** The last request's answer: the next one is sent after it. Never rejects. */
  #turn: Promise<void> = Promise.resolve();

  constructor(stream: Duplex, ctx: InformerContext, logger: Logger, onClosed: () => void) {
    this.#ctx = ctx;
    let resolveClosed: () => void = () => undefined;
    this.#closed = new Promise<void>((resolve) => {
      resolveClosed = resolve;
    });
    this.#conn = new FrameConnection(
      stream,
      'informer',
      {
        frame: (body) => this.#onFrame(body),
        protocolError: (err) => {
          // §9.3: an oversize or broken frame ends the connection, after an answer saying why.
          this.#log.debug({ code: err.code, reason: err.message }, 'informer connection closing');
          this.#conn.send(failure(err.message));
          this.#conn.close();
        },
        ended: () => void this.#turn.then(() => this.#conn.close()), // once every request was answered, in order
        closed: () => {
          this.#log.debug('informer connection closed');
          onClosed();
          resolveClosed();
        },
      },
      { maxFrameBytes: ctx.config.limits.maxHandlerFrameBytes, maxOutboundBytes: MAX_OUTBOUND_BYTES },
    );
    this.#log = logger;
    this.#log.debug('informer connection opened');
  }

  /** Ends the connection (shutdown); resolves once it is gone. */
  close(): Promise<void> {
    this.#conn.close();
    return this.#closed;
  }

  #onFrame(body: Buffer): void {
    const parsed = parseRequest(body, this.#ctx.config.limits.maxJsonDepth);
    // Answers go out in the order of the requests, also behind a command that takes time (reload).
    this.#turn = this.#turn.then((): CommandResult | Promise<CommandResult> => (parsed.ok ? this.#run(parsed.request) : { answer: failure(parsed.error) })).then((result) => {
      this.#conn.send(result.answer);
      if (result.close === true) this.#conn.close();
    });
  }

  /** Never rejects: a command that throws is answered `internal error`. */
  async #run(request: InformerRequest): Promise<CommandResult> {
    this.#log.trace({ command: request.type, data: request.data }, 'informer request');
    try {
      return await runCommand(this.#ctx, request);
    } catch (err) {
      this.#log.error({ err, command: request.type }, 'informer command failed');
      return { answer: failure('internal error') };
    }
  }
}
