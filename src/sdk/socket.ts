// Opening a socket to a server or informer address, with a deadline and errors people can read
// ("cannot connect to 127.0.0.1:2220: connection refused").
import net from 'node:net';
import { formatServerAddress, type SocketAddress } from './address.ts';
import { ClientError } from './errors.ts';

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
  return (code !== undefined ? REASONS[code] : undefined) ?? code ?? err.message;
}

/**
 * Resolves with a connected socket, or rejects with a ClientError: 'connect_failed', 'timeout', or
 * 'connection_closed' when `signal` aborts first (the socket is destroyed).
 */
export function openSocket(address: SocketAddress, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  const label = formatServerAddress(address);
  return new Promise((resolve, reject) => {
    const socket = 'path' in address ? net.connect({ path: address.path }) : net.connect({ host: address.host, port: address.port });
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
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      if (!('path' in address)) socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
