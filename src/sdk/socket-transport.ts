// The Node transport of the client SDK (src/sdk/transport.ts): a TCP or UNIX socket framed with the
// 4-byte length prefix of docs/protocol.md §1 by the daemon's own FrameConnection.
import { FrameConnection } from '../framing/frame-connection.ts';
import { encodeJsonFrame } from '../protocol/frame.ts';
import { formatServerAddress, type SocketAddress } from './address.ts';
import { describeSocketError, openSocket } from './socket.ts';
import type { SendResult, Transport, TransportEvents, TransportOptions } from './transport.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function openSocketTransport(address: SocketAddress, options: TransportOptions): Promise<Transport> {
  const socket = await openSocket(address, options.timeoutMs, options.signal, options.tls);
  return new SocketTransport(formatServerAddress(address), socket, options);
}

class SocketTransport implements Transport {
  readonly label: string;
  readonly #socket: Awaited<ReturnType<typeof openSocket>>;
  readonly #options: TransportOptions;
  #conn: FrameConnection | null = null;

  constructor(label: string, socket: Awaited<ReturnType<typeof openSocket>>, options: TransportOptions) {
    this.label = label;
    this.#socket = socket;
    this.#options = options;
  }

  get isOpen(): boolean {
    return this.#conn?.isOpen === true;
  }

  start(events: TransportEvents): void {
    this.#conn = new FrameConnection(
      this.#socket,
      this.label,
      {
        frame: (body) => {
          let text: string;
          try {
            text = utf8.decode(body);
          } catch {
            events.invalid('frame is not valid UTF-8');
            return;
          }
          events.text(text);
        },
        protocolError: (err) => events.broken(err),
        ended: () => this.#conn?.close(),
        closed: (err) => events.closed(err === null ? null : { reason: describeSocketError(err), cause: err }),
      },
      { maxFrameBytes: this.#options.maxFrameBytes, maxOutboundBytes: this.#options.maxOutboundBytes },
    );
  }

  send(json: string): SendResult {
    const conn = this.#conn;
    if (conn === null || !conn.isOpen) return 'closed';
    const frame = encodeJsonFrame(json);
    if (this.#socket.writableLength + frame.length > this.#options.maxOutboundBytes) return 'full';
    return conn.sendFrame(frame) ? 'sent' : 'closed';
  }

  pause(): void {
    this.#conn?.pause();
  }

  resume(): void {
    this.#conn?.resume();
  }

  close(): void {
    if (this.#conn === null) this.#socket.end();
    else this.#conn.close();
  }

  destroy(): void {
    if (this.#conn === null) this.#socket.destroy();
    else this.#conn.destroy();
  }
}
