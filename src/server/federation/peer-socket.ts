// The socket of an outbound peer link (docs/federation.md §3.8): plain TCP, or TLS with the peer's
// certificate checked against the configured CA (and its name), a pinned SHA-256 fingerprint, or
// both, and our client certificate for a peer that asks for one. A peer whose certificate does not
// verify is refused before anything is sent to it, with the reason logged and counted.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { PeerTlsConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';

export interface PeerSocketOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: PeerTlsConfig | null;
  /** For the TCP connect and the TLS handshake together (federation.connectTimeoutMs). */
  readonly connectTimeoutMs: number;
  readonly log: Logger;
  /** Counts a refused certificate (`tls_refused`, the link's counters). */
  readonly count?: (name: string) => void;
}

export interface PeerSocket {
  readonly socket: net.Socket;
  /** Runs `start` once the link may speak: at once for TCP (writes wait for the connect), after a verified handshake for TLS. */
  readonly ready: (start: () => void) => void;
}

export function openPeerSocket(o: PeerSocketOptions): PeerSocket {
  if (o.tls === null) {
    const socket = net.connect({ host: o.host, port: o.port, noDelay: true });
    socket.setTimeout(o.connectTimeoutMs, () => socket.destroy(new Error('connect timeout')));
    socket.once('connect', () => socket.setTimeout(0));
    return { socket, ready: (start) => start() };
  }
  const settings = o.tls;
  const refuse = (socket: net.Socket, reason: string): void => {
    o.count?.('tls_refused');
    o.log.warn({ reason }, 'peer refused: its TLS certificate does not verify');
    socket.destroy(new Error(`TLS: ${reason}`));
  };
  let files: Pick<tls.ConnectionOptions, 'ca' | 'cert' | 'key'>;
  try {
    // Read at every connect (a handful of small files, once per attempt): a renewed certificate is used on the next link.
    files = {
      ...(settings.ca === null ? {} : { ca: readFileSync(settings.ca) }),
      ...(settings.certificate === null ? {} : { cert: readFileSync(settings.certificate) }),
      ...(settings.key === null ? {} : { key: readFileSync(settings.key) }),
    };
  } catch (err) {
    // Not the peer's fault, but the link cannot be opened: an unconnected socket that fails at once.
    const socket = new net.Socket();
    socket.on('error', () => undefined);
    const reason = `${settings.configKey}: cannot read ${(err as { path?: string }).path ?? 'a file'}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    o.log.warn({ reason }, 'peer link cannot be opened');
    process.nextTick(() => socket.destroy(new Error(reason)));
    return { socket, ready: () => undefined };
  }
  const serverName = settings.serverName ?? (net.isIP(o.host) === 0 ? o.host : null);
  const pinOnly = settings.fingerprint !== null && settings.ca === null;
  const socket = tls.connect({
    host: o.host,
    port: o.port,
    ...files,
    ...(serverName === null ? {} : { servername: serverName }),
    minVersion: 'TLSv1.2',
    // A pin alone is the trust (a self-signed peer certificate): the chain and name are not asked for.
    rejectUnauthorized: !pinOnly,
  });
  socket.setNoDelay(true);
  socket.setTimeout(o.connectTimeoutMs, () => socket.destroy(new Error('connect timeout (TCP and TLS handshake)')));
  let secured = false;
  // Node's own refusals (chain, expiry, name) arrive as the socket's error before the handshake ends.
  socket.once('error', (err: NodeJS.ErrnoException) => {
    if (!secured && socket.connecting === false && isCertificateError(err)) {
      o.count?.('tls_refused');
      o.log.warn({ reason: err.message, code: err.code }, 'peer refused: its TLS certificate does not verify');
    }
  });
  return {
    socket,
    ready: (start) => {
      socket.once('secureConnect', () => {
        secured = true;
        socket.setTimeout(0);
        const pin = settings.fingerprint;
        const got = socket.getPeerCertificate().fingerprint256;
        if (pin !== null && got !== pin) {
          refuse(socket, `its certificate's SHA-256 fingerprint ${got} is not the pinned ${pin} (${settings.configKey}.fingerprint)`);
          return;
        }
        start();
      });
    },
  };
}

function isCertificateError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_/.test(code);
}
