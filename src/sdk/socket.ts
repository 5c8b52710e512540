// Opening a socket to a server or informer address, with a deadline and errors people can read
// ("cannot connect to 127.0.0.1:2220: connection refused").
import net from 'node:net';
import tls from 'node:tls';
import { formatServerAddress, type SocketAddress } from './address.ts';
import { ClientError } from './errors.ts';

/** TLS settings of a client (docs/protocol.md §2.7). There is no option to skip verification. */
export interface TlsClientOptions {
  /**
   * PEM text (not a path) of the CAs that sign the server's certificate, replacing the system's
   * list; absent: the CAs Node.js trusts. `bester --ca FILE` reads the file into this.
   */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

/** OpenSSL's verification codes, as a person reads them. */
const CERTIFICATE_REASONS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: "the server's certificate has expired",
  CERT_NOT_YET_VALID: "the server's certificate is not valid yet",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's certificate is self-signed and not trusted (give its CA with --ca / the ca option)",
  SELF_SIGNED_CERT_IN_CHAIN: "the server's certificate is signed by a CA that is not trusted (give it with --ca / the ca option)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's certificate is not signed by a trusted CA (give its CA with --ca / the ca option)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the server's certificate is not signed by a trusted CA (give its CA with --ca / the ca option)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's certificate is not for this host name",
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server does not speak TLS on this port (is it a plain tcp4/tcp6 listener?)',
};

const REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOENT: 'no such socket file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'the host name could not be resolved',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  ENOTSOCK: 'not a socket',
  ENAMETOOLONG: 'the socket path is too long',
};

export function describeSocketError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  const certificate = code !== undefined ? CERTIFICATE_REASONS[code] : undefined;
  if (certificate !== undefined) return `TLS: ${certificate} (${err.message})`;
  return (code !== undefined ? REASONS[code] : undefined) ?? code ?? err.message;
}

/** A plain socket, or a TLS one that checks the server's certificate and its name (SNI set to a host name). */
function connect(address: SocketAddress, options: TlsClientOptions): net.Socket {
  if ('path' in address) return net.connect({ path: address.path });
  if (address.tls !== true) return net.connect({ host: address.host, port: address.port });
  const { host, port } = address;
  // SNI carries host names only (RFC 6066); an IP address is still checked against the certificate.
  return tls.connect({
    host,
    port,
    ...(net.isIP(host) === 0 ? { servername: host } : {}),
    ...(options.ca === undefined ? {} : { ca: options.ca as Array<string | Buffer> }),
    minVersion: 'TLSv1.2',
    rejectUnauthorized: true,
  });
}

/**
 * Resolves with a connected socket, or rejects with a ClientError: 'connect_failed', 'timeout', or
 * 'connection_closed' when `signal` aborts first (the socket is destroyed).
 */
export function openSocket(address: SocketAddress, timeoutMs: number, signal?: AbortSignal, tlsOptions: TlsClientOptions = {}): Promise<net.Socket> {
  const label = formatServerAddress(address);
  return new Promise((resolve, reject) => {
    if (tlsOptions.ca !== undefined && !('tls' in address && address.tls === true)) {
      // A CA given for a plain address would protect nothing: say so instead of connecting in clear text.
      reject(new ClientError('bad_address', `a CA was given but ${label} is not a TLS address: write tls://HOST:PORT`));
      return;
    }
    const socket = connect(address, tlsOptions);
    // Permanent, so an error between here and the owner's own listener can never go unheard.
    socket.on('error', () => undefined);
    const fail = (err: ClientError): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => {
      fail(new ClientError('timeout', `cannot connect to ${label}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = (): void => fail(new ClientError('connection_closed', `connecting to ${label} was cancelled`));
    const onError = (err: Error): void => {
      fail(new ClientError('connect_failed', `cannot connect to ${label}: ${describeSocketError(err)}`, { cause: err }));
    };
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    // A TLS socket is usable once the handshake checked the certificate.
    socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      if (!('path' in address)) socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
