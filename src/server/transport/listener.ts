// The transport seam (design.md "Seams"): a listener accepts streams and hands each one, with what
// is known of its peer, to a StreamHandler (the daemon's `handle(stream, peer)`, the informer's).
// One module per kind, chosen by the table below: TLS and WebSocket add a module and a row.
import type { Duplex } from 'node:stream';
import type { ListenerConfig } from '../config/types.ts';
import { startTcpListener } from './tcp-listener.ts';
import { startTlsListener } from './tls-listener.ts';
import { startUnixListener } from './unix-listener.ts';
import type { startWsListener } from './ws-listener.ts';

/** Who is on the other end of an accepted stream. */
export interface PeerInfo {
  /** The listener kind that accepted it: 'tcp4', 'tcp6', 'unix', 'tls4', 'tls6', 'ws', 'wss'. */
  readonly transport: string;
  /** The peer's IP address, or null where there is none (UNIX sockets). */
  readonly remoteAddress: string | null;
  readonly remotePort: number | null;
  /** For logs: "address:port", or the transport's name. */
  readonly remote: string;
  /** Whether the stream is encrypted by the transport (TLS): a password sent on it is not in clear text. */
  readonly secure: boolean;
  /** The subject CN of the client certificate the transport verified, when the peer presented one that verified. */
  readonly certificateName?: string;
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
  /**
   * Kinds with files to re-read (TLS): applies `config` (the same listener in a reloaded config)
   * without dropping open connections; new ones see the new files. Rejects, keeping what is in
   * use, when the files are not usable or when `config` changes what only a restart can.
   */
  reload?(config: ListenerConfig): Promise<void>;
}

/** A TLS handshake that failed, before any stream reached the StreamHandler. */
export interface HandshakeFailure {
  readonly transport: string;
  readonly remote: string;
  /** OpenSSL's or Node's reason, e.g. "certificate has expired", "tlsv1 alert unknown ca". */
  readonly reason: string;
}

/** Settings of the kinds that have them; each kind takes what applies to it. */
export interface ListenerOptions {
  /** TCP keepalive (docs/protocol.md §5.3: the OS finds dead peers too): first probe after this many ms idle. Off when absent. */
  readonly keepAliveMs?: number;
  /** TLS kinds: how long a handshake may take before the connection is closed (ms). */
  readonly handshakeTimeoutMs?: number;
  /** TLS kinds: told of each failed handshake (the daemon logs it with its reason). */
  readonly onHandshakeError?: (failure: HandshakeFailure) => void;
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
  tls4: startTlsListener,
  tls6: startTlsListener,
  // Loaded when used: a daemon without WebSocket listeners does not carry the `ws` package.
  ws: async (...args: Parameters<typeof startWsListener>) => (await import('./ws-listener.ts')).startWsListener(...args),
  wss: async (...args: Parameters<typeof startWsListener>) => (await import('./ws-listener.ts')).startWsListener(...args),
};

/** Starts the listener `config` names; rejects with BesterError('config_invalid') when it cannot listen. */
export function startListener(config: ListenerConfig, handle: StreamHandler, options: ListenerOptions = {}): Promise<Listener> {
  const start = KINDS[config.kind] as Starter<ListenerConfig>;
  return start(config, handle, options);
}
