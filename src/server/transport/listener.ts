// The transport seam (design.md "Seams"): a listener accepts streams and hands each one, with what
// is known of its peer, to a StreamHandler (the daemon's `handle(stream, peer)`, the informer's).
// One module per kind, chosen by the table below: TLS and WebSocket add a module and a row.
import type { Duplex } from 'node:stream';
import type { ListenerConfig } from '../config/types.ts';
import { startTcpListener } from './tcp-listener.ts';
import { startUnixListener } from './unix-listener.ts';

/** Who is on the other end of an accepted stream. */
export interface PeerInfo {
  /** The listener kind that accepted it: 'tcp4', 'tcp6', 'unix', later 'tls', 'ws'. */
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
  /** Where it listens, as a URL-like string: tcp4://127.0.0.1:2220, tcp6://[::1]:2221, unix:///path. */
  readonly address: string;
  /** The bound TCP port (read back: the config may say 0), or null for unix. */
  readonly port: number | null;
  /** Stops accepting; resolves once the streams it accepted are gone, which it leaves to their owners. Idempotent. */
  close(): Promise<void>;
}

/** Settings of the kinds that have them; each kind takes what applies to it. */
export interface ListenerOptions {
  /** TCP keepalive (docs/protocol.md §5.3: the OS finds dead peers too): first probe after this many ms idle. Off when absent. */
  readonly keepAliveMs?: number;
}

type Starter<C extends ListenerConfig> = (config: C, handle: StreamHandler, options: ListenerOptions) => Promise<Listener>;

const KINDS: { readonly [K in ListenerConfig['kind']]: Starter<Extract<ListenerConfig, { kind: K }>> } = {
  tcp4: startTcpListener,
  tcp6: startTcpListener,
  unix: startUnixListener,
};

/** Starts the listener `config` names; rejects with BesterError('config_invalid') when it cannot listen. */
export function startListener(config: ListenerConfig, handle: StreamHandler, options: ListenerOptions = {}): Promise<Listener> {
  const start = KINDS[config.kind] as Starter<ListenerConfig>;
  return start(config, handle, options);
}
