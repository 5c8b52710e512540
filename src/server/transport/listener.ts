// Listeners chosen by network.types (docs/configuration.md): tcp4, tcp6, unix. Each hands raw
// streams to the server; sessions do the rest. UNIX sockets: stale files from a crash are
// replaced, a live one is never stolen, the file gets the configured mode and is removed on close.
import { chmod, mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';
import type { ListenerConfig } from '../config/types.ts';
import { BesterError } from '../../protocol/errors.ts';
import { clearStaleSocket } from './socket-probe.ts';

export interface Listener {
  readonly kind: ListenerConfig['kind'];
  /** Where it listens, as a URL-like string: tcp4://127.0.0.1:2220, tcp6://[::1]:2221, unix:///path. */
  readonly address: string;
  /** The bound TCP port (read back: the config may say 0), or null for unix. */
  readonly port: number | null;
  /** Stops accepting; existing connections are left to their owners. Idempotent. */
  close(): Promise<void>;
}

const BACKLOG = 511;

export async function startListener(config: ListenerConfig, onConnection: (socket: net.Socket) => void): Promise<Listener> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
  // Errors after listening (rare: EMFILE on accept) must not be thrown as 'error' without a listener.
  server.on('error', () => undefined);
  if (config.kind === 'unix') {
    await mkdir(path.dirname(config.path), { recursive: true, mode: 0o700 });
    await removeStaleSocket(config.path);
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new BesterError('config_invalid', `cannot listen on ${describe(config)}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (config.kind === 'unix') server.listen({ path: config.path, backlog: BACKLOG }, done);
    else server.listen({ host: config.host, port: config.port, backlog: BACKLOG, ipv6Only: config.kind === 'tcp6' }, done);
  });
  if (config.kind === 'unix') await chmod(config.path, config.mode);

  let port: number | null = null;
  let address: string;
  if (config.kind === 'unix') address = `unix://${config.path}`;
  else {
    const info = server.address() as net.AddressInfo;
    port = info.port;
    address = config.kind === 'tcp6' ? `tcp6://[${info.address}]:${port}` : `tcp4://${info.address}:${port}`;
  }

  let closing: Promise<void> | null = null;
  return {
    kind: config.kind,
    address,
    port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
      }).then(async () => {
        if (config.kind === 'unix') await unlink(config.path).catch(() => undefined);
      });
      return closing;
    },
  };
}

/** A socket file nobody answers on is left from a crash: remove it. One that answers is in use. */
async function removeStaleSocket(path: string): Promise<void> {
  const state = await clearStaleSocket(path);
  if (state === 'not-a-socket') {
    throw new BesterError('config_invalid', `cannot listen on unix://${path}: a file that is not a socket is in the way`);
  }
  if (state === 'in-use') {
    throw new BesterError('config_invalid', `cannot listen on unix://${path}: another process is accepting connections there`);
  }
}

function describe(config: ListenerConfig): string {
  return config.kind === 'unix' ? `unix://${config.path}` : `${config.kind}://${config.host}:${config.port}`;
}
