// TLS listeners, tls4 and tls6 (docs/configuration.md, network.tls4): TCP with the same socket
// settings as tcp-listener.ts, and TLS on top. The stream handed on is the decrypted one, after
// the handshake; a failed handshake never reaches the daemon (it is counted by the listener's
// `onHandshakeError`). reload() re-reads the files: new connections get the new certificate,
// open ones keep theirs.
import type net from 'node:net';
import tls from 'node:tls';
import { BesterError } from '../../protocol/errors.ts';
import type { TlsListenerConfig } from '../config/types.ts';
import type { ListenerConfig } from '../config/types.ts';
import type { Listener, ListenerOptions, PeerInfo, StreamHandler } from './listener.ts';
import { bind, closer } from './net-server.ts';
import { clientCertificateOptions, loadSecureContext } from './tls-material.ts';

/** How long a TLS handshake may take when the options say nothing (ms). */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export async function startTlsListener(config: TlsListenerConfig, handle: StreamHandler, options: ListenerOptions): Promise<Listener> {
  const keepAlive = options.keepAliveMs !== undefined;
  let current = config;
  const server = tls.createServer({
    ...(await loadSecureContext(config.tls)),
    ...clientCertificateOptions(config.tls),
    // Half-open only once the handshake is done (below): before, a client that hangs up (e.g. it does
    // not trust the certificate) would otherwise hold the connection until the handshake timeout.
    allowHalfOpen: false,
    noDelay: true,
    keepAlive,
    ...(keepAlive ? { keepAliveInitialDelay: options.keepAliveMs } : {}),
    // The login deadline starts after the handshake: this bounds the time before it (§2.5).
    handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
  });
  // Who is on the other end, read when the TCP connection arrives: after a failed handshake the
  // socket is gone and cannot say. (Node's TLSSocket keeps the TCP socket as `_parent`, undocumented;
  // without it the failure is reported under the listener's kind.)
  const remotes = new WeakMap<net.Socket, string>();
  server.on('connection', (raw: net.Socket) => {
    if (raw.remoteAddress !== undefined) remotes.set(raw, `${raw.remoteAddress}:${raw.remotePort}`);
  });
  const refused = (socket: tls.TLSSocket, reason: string): void => {
    const raw = (socket as { _parent?: unknown })._parent;
    const remote = (raw instanceof Object ? remotes.get(raw as net.Socket) : undefined) ?? remoteOf(config.kind, socket);
    options.onHandshakeError?.({ transport: config.kind, remote, reason });
  };
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    // "request": a client may come without a certificate, but one it presents must verify.
    if (current.tls.clientCertificates === 'request' && !socket.authorized && presentedCertificate(socket)) {
      socket.on('error', () => undefined);
      socket.destroy();
      refused(socket, `client certificate refused: ${String(socket.authorizationError)}`);
      return;
    }
    socket.allowHalfOpen = true; // as on TCP: a client that ends its side still gets the answers
    handle(socket, peerOf(config.kind, socket));
  });
  // A handshake that fails (wrong CA, expired or missing client certificate, not TLS at all): Node
  // has already destroyed the socket; the reason goes to whoever listens.
  server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => refused(socket, handshakeReason(err)));
  const ipv6 = config.kind === 'tls6';
  const wanted = ipv6 ? `tls6://[${config.host}]:${config.port}` : `tls4://${config.host}:${config.port}`;
  await bind(server, { host: config.host, port: config.port, ipv6Only: ipv6 }, wanted);
  const info = server.address() as net.AddressInfo;
  return {
    kind: config.kind,
    address: ipv6 ? `tls6://[${info.address}]:${info.port}` : `tls4://${info.address}:${info.port}`,
    port: info.port,
    close: closer(server),
    async reload(next: ListenerConfig): Promise<void> {
      if (next.kind !== current.kind || next.host !== current.host || next.port !== current.port) {
        throw new BesterError('config_invalid', `${next.kind === current.kind ? current.tls.configKey : `network.${current.kind}`}: the address or kind of a listener changes only with a restart`);
      }
      if (next.tls.clientCertificates !== current.tls.clientCertificates) {
        throw new BesterError('config_invalid', `${next.tls.configKey}.clientCertificates: changes only with a restart`);
      }
      // Read and checked before anything changes: a failure keeps the context in use.
      server.setSecureContext(await loadSecureContext(next.tls));
      current = next;
    },
  };
}

function peerOf(kind: 'tls4' | 'tls6', socket: tls.TLSSocket): PeerInfo {
  const remoteAddress = socket.remoteAddress ?? null;
  const remotePort = socket.remotePort ?? null;
  const commonName = socket.authorized ? subjectCommonName(socket) : null;
  return {
    transport: kind,
    remoteAddress,
    remotePort,
    remote: remoteAddress === null ? kind : `${remoteAddress}:${remotePort}`,
    secure: true,
    ...(commonName === null ? {} : { certificateName: commonName }),
  };
}

function remoteOf(kind: string, socket: tls.TLSSocket): string {
  return socket.remoteAddress === undefined ? kind : `${socket.remoteAddress}:${socket.remotePort}`;
}

/** Node's words for a failed handshake, with what a hang-up there usually means. */
function handshakeReason(err: Error): string {
  if (err.message === 'socket hang up' || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
    return `the client left during the handshake (${err.message}); often it does not trust this server's certificate`;
  }
  return err.message;
}

function presentedCertificate(socket: tls.TLSSocket): boolean {
  return Object.keys(socket.getPeerCertificate()).length > 0;
}

/** The CN of the verified client certificate's subject, when it has one (a string; several: the first). */
function subjectCommonName(socket: tls.TLSSocket): string | null {
  const cn = (socket.getPeerCertificate() as Partial<tls.PeerCertificate>).subject?.CN;
  if (cn === undefined) return null;
  return Array.isArray(cn) ? (cn[0] ?? null) : cn;
}
