// A WebSocket client for tests and benches, speaking length-prefixed frames like a socket: the
// `ws` package's client under a WebSocketDuplex, the same adapter the daemon's ws listener uses.
import type net from 'node:net';
import type tls from 'node:tls';
import WebSocket from 'ws';
import { WebSocketDuplex } from '../../src/server/transport/websocket-duplex.ts';
import { SUBPROTOCOL } from '../../src/server/transport/ws-listener.ts';

export interface DialOptions {
  /** The Origin header, as a browser would send it; absent: none (a non-browser client). */
  readonly origin?: string;
  /** Subprotocols offered; default [bester.v1]. */
  readonly protocols?: readonly string[];
  /** Answer the server's pings (default true); false plays a peer that stopped answering. */
  readonly autoPong?: boolean;
  readonly timeoutMs?: number;
  /** wss: TLS options of the client (e.g. `ca`, `servername`). */
  readonly tls?: tls.ConnectionOptions;
}

/** Opens a WebSocket; resolves once it is open, rejects with the HTTP status when the upgrade is refused. */
export function dialWebSocket(url: string, options: DialOptions = {}): Promise<{ stream: WebSocketDuplex; socket: net.Socket; webSocket: WebSocket }> {
  return new Promise((resolve, reject) => {
    const webSocket = new WebSocket(url, [...(options.protocols ?? [SUBPROTOCOL])], {
      ...options.tls,
      ...(options.origin === undefined ? {} : { origin: options.origin }),
      autoPong: options.autoPong ?? true,
      handshakeTimeout: options.timeoutMs ?? 5000,
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    let socket: net.Socket | null = null;
    webSocket.once('upgrade', (res) => (socket = res.socket));
    webSocket.once('unexpected-response', (_req, res) => {
      reject(new HttpRefusal(res.statusCode ?? 0));
      res.resume();
      webSocket.terminate();
    });
    webSocket.once('error', reject);
    webSocket.once('open', () => {
      webSocket.off('error', reject);
      if (socket === null) throw new Error('open without an upgrade');
      socket.setNoDelay(true);
      resolve({ stream: new WebSocketDuplex(webSocket, socket), socket, webSocket });
    });
  });
}

/** The upgrade was answered with an HTTP status instead of 101. */
export class HttpRefusal extends Error {
  readonly status: number;

  constructor(status: number) {
    super(`WebSocket upgrade refused with HTTP ${status}`);
    this.status = status;
  }
}
