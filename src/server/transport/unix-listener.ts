// UNIX socket listeners (STYLE.md #16): a stale file from a crash is replaced, a live one is never
// stolen, the file gets the configured mode and is removed on close.
import { chmod, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { UnixListenerConfig } from '../config/types.ts';
import { BesterError } from '../../protocol/errors.ts';
import type { Listener, PeerInfo, StreamHandler } from './listener.ts';
import { bind, closer } from './net-server.ts';
import { clearStaleSocket } from './socket-probe.ts';

/** Every UNIX peer is the same: no address, and the OS already checked the file's mode. */
const UNIX_PEER: PeerInfo = Object.freeze({ transport: 'unix', remoteAddress: null, remotePort: null, remote: 'unix', secure: false });

export async function startUnixListener(config: UnixListenerConfig, handle: StreamHandler): Promise<Listener> {
  const address = `unix://${config.path}`;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => handle(socket, UNIX_PEER));
  await mkdir(path.dirname(config.path), { recursive: true, mode: 0o700 });
  await removeStaleSocket(config.path);
  await bind(server, { path: config.path }, address);
  await chmod(config.path, config.mode);
  return {
    kind: 'unix',
    address,
    port: null,
    close: closer(server, () => unlink(config.path).catch(() => undefined)),
  };
}

/** A socket file nobody answers on is left from a crash: remove it. One that answers is in use. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  const state = await clearStaleSocket(socketPath);
  if (state === 'not-a-socket') {
    throw new BesterError('config_invalid', `cannot listen on unix://${socketPath}: a file that is not a socket is in the way`);
  }
  if (state === 'in-use') {
    throw new BesterError('config_invalid', `cannot listen on unix://${socketPath}: another process is accepting connections there`);
  }
}
