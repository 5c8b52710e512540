// What the TCP and UNIX listeners share: binding a net.Server and closing it once.
import type net from 'node:net';
import { BesterError } from '../../protocol/errors.ts';

export const BACKLOG = 511;

/** Binds; a failure is a BesterError('config_invalid') naming `address`. */
export function bind(server: net.Server, options: net.ListenOptions, address: string): Promise<void> {
  // Errors after listening (rare: EMFILE on accept) must not be thrown as 'error' without a listener.
  server.on('error', () => undefined);
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new BesterError('config_invalid', `cannot listen on ${address}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ ...options, backlog: BACKLOG }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Stops accepting; resolves once every accepted connection is gone (then runs `after`). Idempotent through the returned function. */
export function closer(server: net.Server, after?: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
    }).then(after));
}
