// TCP listeners, tcp4 and tcp6 (docs/configuration.md network.types). Socket settings live here:
// no Nagle delay (small frames go out at once), and keepalive when asked for.
import net from 'node:net';
import type { TcpListenerConfig } from '../config/types.ts';
import type { Listener, ListenerOptions, PeerInfo, StreamHandler } from './listener.ts';
import { bind, closer } from './net-server.ts';

export async function startTcpListener(config: TcpListenerConfig, handle: StreamHandler, options: ListenerOptions): Promise<Listener> {
  const keepAlive = options.keepAliveMs !== undefined;
  const server = net.createServer(
    { allowHalfOpen: true, noDelay: true, keepAlive, ...(keepAlive ? { keepAliveInitialDelay: options.keepAliveMs } : {}) },
    (socket) => handle(socket, peerOf(config.kind, socket)),
  );
  const wanted = config.kind === 'tcp6' ? `tcp6://[${config.host}]:${config.port}` : `tcp4://${config.host}:${config.port}`;
  await bind(server, { host: config.host, port: config.port, ipv6Only: config.kind === 'tcp6' }, wanted);
  const info = server.address() as net.AddressInfo;
  return {
    kind: config.kind,
    address: config.kind === 'tcp6' ? `tcp6://[${info.address}]:${info.port}` : `tcp4://${info.address}:${info.port}`,
    port: info.port,
    close: closer(server),
  };
}

function peerOf(transport: 'tcp4' | 'tcp6', socket: net.Socket): PeerInfo {
  const remoteAddress = socket.remoteAddress ?? null;
  const remotePort = socket.remotePort ?? null;
  return {
    transport,
    remoteAddress,
    remotePort,
    // An accepted socket whose peer already left has no address any more.
    remote: remoteAddress === null ? transport : `${remoteAddress}:${remotePort}`,
    secure: false,
  };
}
