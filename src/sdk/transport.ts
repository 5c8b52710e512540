// The transport seam of the client SDK: how one connection to a server carries frames' JSON text.
// Two kinds, chosen by the address (src/sdk/address.ts):
//   - a socket (TCP or UNIX), framed with the 4-byte length prefix of docs/protocol.md §1 by the
//     daemon's own FrameConnection (src/sdk/socket-transport.ts; Node only, loaded on demand);
//   - a WebSocket (ws:// and wss://), one Bester message per text message (docs/protocol.md §1.5,
//     src/sdk/web-socket-transport.ts), with the WebSocket global of browsers and of Node 24.
// Only this file's static imports are part of what a browser loads: nothing here imports node:*
// (test/unit/sdk-browser-imports.test.ts walks the import graph to keep it so).
import type { ServerAddress } from './address.ts';
import type { TlsClientOptions } from './socket.ts';
import { openWebSocketTransport } from './web-socket-transport.ts';

export interface TransportOptions {
  /** For the connection to open. */
  readonly timeoutMs: number;
  /** Largest frame accepted from the server (bytes of JSON text). */
  readonly maxFrameBytes: number;
  /** Bytes queued for a server that is not reading before send() answers 'full'. */
  readonly maxOutboundBytes: number;
  readonly signal?: AbortSignal;
  /** For tls:// addresses (src/sdk/socket.ts); refused with a WebSocket address, whose TLS is the platform's. */
  readonly tls?: TlsClientOptions;
}

/** Why a connection ended when it did not end cleanly: a sentence, and the error behind it. */
export interface TransportLoss {
  readonly reason: string;
  readonly cause?: unknown;
}

export interface TransportEvents {
  /** One frame's JSON text (not parsed yet). */
  text(json: string): void;
  /** The server sent something that is not a frame's text (say, invalid UTF-8): `what` completes "<server> sent ...". */
  invalid(what: string): void;
  /** The framing itself broke (an oversize or empty frame); the connection is closing. */
  broken(err: Error): void;
  /** The connection is gone; called once. null when it was closed cleanly. */
  closed(loss: TransportLoss | null): void;
}

export type SendResult = 'sent' | 'full' | 'closed';

/** One open connection. Events are reported only after start(); what arrives before waits for it. */
export interface Transport {
  readonly label: string;
  readonly isOpen: boolean;
  start(events: TransportEvents): void;
  /** Queues one frame's JSON text: 'full' when more than maxOutboundBytes would wait to be written. */
  send(json: string): SendResult;
  /** Stops handing out frames until resume() (a socket stops reading; a WebSocket holds them). */
  pause(): void;
  resume(): void;
  /** Flushes what was sent, then closes. */
  close(): void;
  /** Closes at once; nothing more is handed out. */
  destroy(): void;
}

/** Opens the connection an address names. Rejects with a ClientError ('connect_failed', 'timeout', 'connection_closed'). */
export async function openTransport(address: ServerAddress, options: TransportOptions): Promise<Transport> {
  if ('url' in address) return openWebSocketTransport(address, options);
  // Sockets exist only in Node: loaded here, never by a browser (which only ever has ws:// addresses).
  const { openSocketTransport } = await import('./socket-transport.ts');
  return openSocketTransport(address, options);
}
