// The transport seam (design.md "Seams"): a listener accepts streams and hands each one, with what
// is known of its peer, to a StreamHandler (the daemon's `handle(stream, peer)`, the informer's).
// One module per kind, chosen by the table below: TLS and WebSocket add a module and a row.
import type { Duplex } from 'node:stream';
import type { ListenerConfig } from '../config/types.ts';
import { startTcpListener } from './tcp-listener.ts';
import { startUnixListener } from './unix-listener.ts';
import type { startWsListener } from './ws-listener.ts';

/** Who is on the other end of an accepted stream. */
export interface PeerInfo {
  /** The listener kind that accepted it: 'tcp4', 'tcp6', 'unix', 'ws', later 'tls'. */
  readonly transport: string;
  /** The peer's IP address, or null where there is none (UNIX sockets). */
  readonly remoteAddress: string | null;
  readonly remotePort: number | null;
  /** For logs: "address:port", or the transport's name. */
  readonly remote: string;
  /** Whether the stream is encrypted and the peer's end authenticated by the transport. */
  readonly secure: boolean;
}

/** Takes over an accepted stream: from here on the stream is its owner's (an 'error' listener first). */
export type StreamHandler = (stream: Duplex, peer: PeerInfo) => void;

export interface Listener {
  readonly kind: ListenerConfig['kind'];
  /** Where it listens, as a URL-like string: tcp4://127.0.0.1:2220, tcp6://[::1]:2221, unix:///path, ws://127.0.0.1:8080. */
  readonly address: string;
  /** Where clients connect when that is more than the address: a WebSocket listener's URL with its path. */
  readonly url?: string;
  /** The bound TCP port (read back: the config may say 0), or null for unix. */
  readonly port: number | null;
  /** Stops accepting; resolves once the streams it accepted are gone, which it leaves to their owners. Idempotent. */
  close(): Promise<void>;
}

/** Settings of the kinds that have them; each kind takes what applies to it. */
export interface ListenerOptions {
  /** TCP keepalive (docs/protocol.md §5.3: the OS finds dead peers too): first probe after this many ms idle. Off when absent. */
  readonly keepAliveMs?: number;
  /** WebSocket: a WebSocket ping after this long without anything from the peer (ms, docs/protocol.md §5.3). */
  readonly pingIntervalMs?: number;
  /** WebSocket: unanswered pings in a row before the connection is given up. */
  readonly maxMissedPings?: number;
  /** WebSocket: the sessions' frame limit (limits.maxFrameBytes): messages over it must reach them to be answered. */
  readonly maxFrameBytes?: number;
  /** Told of a connection refused before it became a stream (a WebSocket upgrade from an origin not allowed). */
  readonly refused?: (refusal: { readonly transport: string; readonly remote: string; readonly reason: string }) => void;
}

type Starter<C extends ListenerConfig> = (config: C, handle: StreamHandler, options: ListenerOptions) => Promise<Listener>;

const KINDS: { readonly [K in ListenerConfig['kind']]: Starter<Extract<ListenerConfig, { kind: K }>> } = {
  tcp4: startTcpListener,
  tcp6: startTcpListener,
  unix: startUnixListener,
  // Loaded when used: a daemon without WebSocket listeners does not carry the `ws` package.
  ws: async (...args: Parameters<typeof startWsListener>) => (await import('./ws-listener.ts')).startWsListener(...args),
};

/** Starts the listener `config` names; rejects with BesterError('config_invalid') when it cannot listen. */
export function startListener(config: ListenerConfig, handle: StreamHandler, options: ListenerOptions = {}): Promise<Listener> {
  const start = KINDS[config.kind] as Starter<ListenerConfig>;
  return start(config, handle, options);
}
