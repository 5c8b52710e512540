// Runs the transport contract (transport.contract.ts) against every listener kind: tcp4, tcp6, tls4, tls6, unix, ws, wss.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { duplexPair } from 'node:stream';
import { after, describe, it } from 'node:test';
import tls from 'node:tls';
import { FrameConnection, UNBOUNDED } from '../../src/framing/frame-connection.ts';
import { parseFrameJson } from '../../src/protocol/frame.ts';
import type { ListenerConfig } from '../../src/server/config/types.ts';
import type { Listener, PeerInfo } from '../../src/server/transport/listener.ts';
import { startTestDaemon, tempDir } from '../helpers/daemon.ts';
import { login } from '../helpers/raw-client.ts';
import { makeTestPki, opensslMissing, type TestPki } from '../helpers/tls.ts';
import { dialWebSocket } from '../helpers/ws-client.ts';
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

// TLS: a PKI made for this file; clients trust its CA and check the name "localhost".
// Made on first use: only where openssl is there.
let pki: TestPki | null = null;
const pkiOf = (): TestPki => (pki ??= makeTestPki(tempDir('btls-')));
after(() => {
  if (pki !== null) rmSync(pki.dir, { recursive: true, force: true });
});
const tlsClient = (): tls.ConnectionOptions => ({ ca: readFileSync(pkiOf().ca.certificate), servername: 'localhost' });
const tlsMaterial = (): { certificate: string; key: string } => ({ certificate: pkiOf().server.certificate, key: pkiOf().server.key });

for (const [kind, host] of [['tls4', '127.0.0.1'], ['tls6', '::1']] as const) {
  transportContract({
    kind,
    config: (): ListenerConfig => ({
      kind,
      host,
      port: 0,
      tls: { configKey: `network.${kind}`, ...tlsMaterial(), ca: null, clientCertificates: 'none', requestClientCertificate: false, minVersion: 'TLSv1.2' },
    }),
    target: tcpTarget(host),
    connect: (target) => tls.connect({ ...(target as net.TcpNetConnectOpts), ...tlsClient() }),
    secure: true,
    daemonTls: () => ({ config: tlsMaterial(), client: tlsClient() }),
    unavailable: async () => opensslMissing() ?? (kind === 'tls6' ? unbindable(host) : null),
  });
}

transportContract({
  kind: 'unix',
  config: (dir): ListenerConfig => ({ kind: 'unix', path: unixPath(dir, `l${++sockets}.sock`), mode: 0o640 }),
  target: (_listener, config) => ({ path: config.kind === 'unix' ? config.path : '' }),
});

// WebSocket: frames as messages, through the same adapter the listener uses (a client-side WebSocketDuplex).
const NO_HALF_CLOSE = 'a WebSocket has no half-close: a close frame ends both directions (RFC 6455 §5.5.1)';
for (const kind of ['ws', 'wss'] as const) {
  const secure = kind === 'wss';
  transportContract({
    kind,
    config: (): ListenerConfig => ({
      kind,
      host: '127.0.0.1',
      port: 0,
      path: '/bester',
      origins: [],
      staticDir: null,
      tls: secure
        ? { configKey: `network.${kind}`, ...tlsMaterial(), ca: null, clientCertificates: 'none', requestClientCertificate: false, minVersion: 'TLSv1.2' }
        : null,
    }),
    target: tcpTarget('127.0.0.1'),
    dial: (listener) => dialWebSocket(`${kind}://127.0.0.1:${listener.port}/bester`, secure ? { tls: tlsClient() } : {}),
    noHalfClose: NO_HALF_CLOSE,
    secure,
    ...(secure ? { daemonTls: () => ({ config: tlsMaterial(), client: tlsClient() }) } : {}),
    daemonTarget: (port) => ({ url: `${kind}://127.0.0.1:${port}/bester`, ...(secure ? { tls: tlsClient() } : {}) }),
    ...(secure ? { unavailable: () => Promise.resolve(opensslMissing()) } : {}),
  });
}

describe('BesterServer.handle(stream, peer): any stream becomes a session', () => {
  it('an in-memory stream logs in; over limits.maxConnections the next one is told why and closed', async () => {
    const daemon = await startTestDaemon({ listeners: ['unix'], extra: { limits: { maxConnections: 1 } } });
    const peer: PeerInfo = { transport: 'memory', remoteAddress: null, remotePort: null, remote: 'memory', secure: false };
    try {
      const frames: unknown[][] = [[], []];
      const ends = [0, 1].map((i) => {
        const [ours, theirs] = duplexPair();
        const got = frames[i]!;
        let closed = false;
        const conn = new FrameConnection(
          theirs,
          `memory-${i}`,
          {
            frame: (body) => got.push(parseFrameJson(body)),
            protocolError: () => conn.destroy(),
            ended: () => conn.close(),
            closed: () => (closed = true),
          },
          { maxFrameBytes: 1 << 20, maxOutboundBytes: UNBOUNDED },
        );
        daemon.server.handle(ours, peer);
        return { conn, closed: () => closed };
      });
      ends[0]!.conn.send(login('alice', 'alice-pw'));
      const deadline = Date.now() + 5000;
      while ((frames[0]!.length === 0 || !ends[1]!.closed()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal((frames[0]![0] as { header: { status: string } }).header.status, 'good', JSON.stringify(frames[0]));
      const refusal = frames[1]![0] as { header?: { error?: { code?: string } } } | undefined;
      assert.match(JSON.stringify(refusal), /too_many_connections/);
      assert.equal(ends[1]!.closed(), true, 'the refused stream is closed');
      ends[0]!.conn.destroy();
    } finally {
      await daemon.close();
    }
  });
});
