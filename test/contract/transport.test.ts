// Runs the transport contract (transport.contract.ts) against every listener kind.
import net from 'node:net';
import type { ListenerConfig } from '../../src/server/config/types.ts';
import type { Listener } from '../../src/server/transport/listener.ts';
import { transportContract, unbindable, unixPath } from './transport.contract.ts';

let sockets = 0;

function tcpTarget(host: string) {
  return (listener: Listener): net.NetConnectOpts => ({ host, port: listener.port ?? 0 });
}

transportContract({
  kind: 'tcp4',
  config: (): ListenerConfig => ({ kind: 'tcp4', host: '127.0.0.1', port: 0 }),
  target: tcpTarget('127.0.0.1'),
});

transportContract({
  kind: 'tcp6',
  config: (): ListenerConfig => ({ kind: 'tcp6', host: '::1', port: 0 }),
  target: tcpTarget('::1'),
  unavailable: () => unbindable('::1'),
});

transportContract({
  kind: 'unix',
  config: (dir): ListenerConfig => ({ kind: 'unix', path: unixPath(dir, `l${++sockets}.sock`), mode: 0o640 }),
  target: (_listener, config) => ({ path: config.kind === 'unix' ? config.path : '' }),
});
