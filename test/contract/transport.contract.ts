// The transport contract (design.md "Seams", STYLE.md #3): what every listener kind must do, run
// by transport.test.ts against tcp4, tcp6, unix, tls4, tls6, ws and wss. A new kind adds a Kind row there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FrameConnection, UNBOUNDED } from '../../src/framing/frame-connection.ts';
import { BesterError } from '../../src/protocol/errors.ts';
import { encodeFrame, parseFrameJson } from '../../src/protocol/frame.ts';
import type { ListenerConfig } from '../../src/server/config/types.ts';
import { startListener, type Listener, type PeerInfo } from '../../src/server/transport/listener.ts';
import { startTestDaemon, tempDir } from '../helpers/daemon.ts';
import { loggedIn, message, type Target } from '../helpers/raw-client.ts';

export interface Kind {
  readonly kind: ListenerConfig['kind'];
  /** A config listening on a fresh address (port 0, or a new path under `dir`). */
  config(dir: string): ListenerConfig;
  /** Where a client connects to `listener`. */
  target(listener: Listener, config: ListenerConfig): net.NetConnectOpts;
  /** Why this kind cannot run on this machine, or null. */
  unavailable?: () => Promise<string | null>;
  /** Opens a client socket to a target (default net.connect; TLS kinds: tls.connect with their CA). */
  connect?: (target: net.NetConnectOpts) => net.Socket;
  /** What the listener says in PeerInfo.secure (default false). */
  secure?: boolean;
  /** TLS material for a daemon on this kind (startTestDaemon's `tls`), and the client's TLS options. */
  daemonTls?: () => { config: Record<string, unknown>; client: tls.ConnectionOptions };
  /**
   * Opens a client stream speaking length-prefixed frames, for kinds that need more than a socket
   * (WebSocket: the handshake, then frames as messages); `socket` is the TCP socket under it.
   * Absent: `connect` (or a plain socket) to `target`.
   */
  dial?(listener: Listener, config: ListenerConfig): Promise<{ stream: Duplex; socket: net.Socket }>;
  /** Why this kind cannot honour a half-close, or absent when it can (WebSocket cannot: RFC 6455 §5.5.1). */
  noHalfClose?: string;
  /** Where a client of the test daemon on this kind connects, when not a TCP port or the UNIX socket (WebSocket: a URL). */
  daemonTarget?: (port: number) => Target;
}

const FRAME_LIMIT = 1 << 20;

/** A client end framed like the daemon's: frames in a list, a promise for each next one. */
class Client {
  readonly socket: net.Socket;
  /** What frames are written to and read from: the socket, or a stream over it (dial). */
  readonly stream: Duplex;
  readonly conn: FrameConnection;
  readonly frames: unknown[] = [];
  readonly closed: Promise<void>;
  #waiters: Array<() => void> = [];

  /** A socket to `options` (by `connect`, default net.connect), or the stream and socket a Kind's dial() opened. */
  constructor(
    options: net.NetConnectOpts | { stream: Duplex; socket: net.Socket },
    connect: (target: net.NetConnectOpts) => net.Socket = (o) => net.connect(o),
  ) {
    if ('stream' in options) {
      this.socket = options.socket;
      this.stream = options.stream;
      this.stream.on('error', () => undefined);
    } else {
      this.socket = connect({ ...options, allowHalfOpen: true });
      this.stream = this.socket;
    }
    this.socket.on('error', () => undefined);
    const closed = Promise.withResolvers<void>();
    this.closed = closed.promise;
    this.conn = new FrameConnection(
      this.stream,
      'contract-client',
      {
        frame: (body) => {
          this.frames.push(parseFrameJson(body));
          for (const wake of this.#waiters.splice(0)) wake();
        },
        protocolError: () => this.conn.destroy(),
        ended: () => this.conn.close(),
        closed: () => {
          closed.resolve();
          for (const wake of this.#waiters.splice(0)) wake();
        },
      },
      { maxFrameBytes: FRAME_LIMIT, maxOutboundBytes: UNBOUNDED },
    );
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      // A TLS socket is ready once its handshake is done ('secureConnect'), a plain one on 'connect'.
      const ready = 'encrypted' in this.socket ? 'secureConnect' : 'connect';
      if (this.stream !== this.socket || (ready === 'connect' && !this.socket.connecting)) {
        resolve();
        return;
      }
      this.socket.once(ready, () => resolve());
      this.socket.once('error', reject);
    });
  }

  async next(timeoutMs = 3000): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (!this.conn.isOpen) throw new Error('closed before a frame came');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames.shift();
  }
}

/** The listener side: each accepted stream echoes every frame as {echo, n}; half-close answered, then closed. */
interface Accepted {
  readonly peers: PeerInfo[];
  readonly conns: FrameConnection[];
  readonly handle: (stream: Duplex, peer: PeerInfo) => void;
}

function echoServer(): Accepted {
  const peers: PeerInfo[] = [];
  const conns: FrameConnection[] = [];
  return {
    peers,
    conns,
    handle(stream, peer) {
      stream.on('error', () => undefined);
      peers.push(peer);
      let n = 0;
      const conn: FrameConnection = new FrameConnection(
        stream,
        peer.remote,
        {
          frame: (body) => conn.send({ echo: parseFrameJson(body), n: ++n }),
          protocolError: () => conn.destroy(),
          // Half-close honoured: the peer stopped sending, we still answer, then close.
          ended: () => {
            conn.send({ bye: n });
            conn.close();
          },
          closed: () => undefined,
        },
        { maxFrameBytes: FRAME_LIMIT, maxOutboundBytes: UNBOUNDED },
      );
      conns.push(conn);
    },
  };
}

async function refused(options: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(options);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 2000);
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.on('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(false);
    });
  });
}

export function transportContract(k: Kind): void {
  describe(`transport contract: ${k.kind}`, () => {
    let skip: string | null = null;
    let dir = '';
    before(async () => {
      skip = (await k.unavailable?.()) ?? null;
      if (skip !== null) console.log(`# transport contract ${k.kind} skipped: ${skip}`);
      dir = tempDir('btc-');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** Starts a listener with an echo server; stopped by the test. */
    async function listen(): Promise<{ listener: Listener; config: ListenerConfig; accepted: Accepted }> {
      const accepted = echoServer();
      const config = k.config(dir);
      const listener = await startListener(config, accepted.handle, { keepAliveMs: 10_000 });
      return { listener, config, accepted };
    }

    /** A connected client of `listener`: dialled by the kind, or a socket. */
    async function open(listener: Listener, config: ListenerConfig): Promise<Client> {
      const client = new Client(k.dial ? await k.dial(listener, config) : k.target(listener, config), k.connect);
      await client.connected();
      return client;
    }

    it('reads back its address and bound port', async (t) => {
      if (skip !== null) return t.skip(skip);
      const { listener, config } = await listen();
      try {
        assert.equal(listener.kind, k.kind);
        if (config.kind === 'unix') {
          assert.equal(listener.port, null);
          assert.equal(listener.address, `unix://${config.path}`);
        } else {
          assert.equal(config.port, 0);
          assert.ok(listener.port !== null && listener.port > 0, `port ${listener.port}`);
          assert.ok(listener.address.startsWith(`${k.kind}://`) && listener.address.endsWith(`:${listener.port}`), listener.address);
        }
      } finally {
        await listener.close();
      }
    });

    it('carries frames both ways and fills in the peer information', async (t) => {
      if (skip !== null) return t.skip(skip);
      const { listener, config, accepted } = await listen();
      const client = await open(listener, config);
      try {
        client.conn.send({ hello: 1 });
        client.conn.send({ hello: 2 });
        assert.deepEqual(await client.next(), { echo: { hello: 1 }, n: 1 });
        assert.deepEqual(await client.next(), { echo: { hello: 2 }, n: 2 });
        const [peer] = accepted.peers;
        assert.ok(peer);
        assert.equal(peer.transport, k.kind);
        assert.equal(peer.secure, k.secure ?? false);
        if (config.kind === 'unix') {
          assert.deepEqual({ ...peer }, { transport: 'unix', remoteAddress: null, remotePort: null, remote: 'unix', secure: false });
        } else {
          assert.equal(peer.remoteAddress, client.socket.localAddress);
          assert.equal(peer.remotePort, client.socket.localPort);
          assert.equal(peer.remote, `${peer.remoteAddress}:${peer.remotePort}`);
        }
      } finally {
        client.conn.destroy();
        await listener.close();
      }
    });

    it('honours a half-close: the peer that ended its side still gets the answers', async (t) => {
      if (skip !== null) return t.skip(skip);
      if (k.noHalfClose !== undefined) return t.skip(k.noHalfClose);
      const { listener, config } = await listen();
      const client = await open(listener, config);
      try {
        client.stream.end(encodeFrame({ last: true }));
        assert.deepEqual(await client.next(), { echo: { last: true }, n: 1 });
        assert.deepEqual(await client.next(), { bye: 1 });
        await client.closed;
      } finally {
        client.conn.destroy();
        await listener.close();
      }
    });

    it('close() stops accepting, leaves open streams to their owner, resolves once they are gone; idempotent', async (t) => {
      if (skip !== null) return t.skip(skip);
      const { listener, config, accepted } = await listen();
      const target = k.target(listener, config);
      const client = await open(listener, config);
      client.conn.send({ before: true });
      assert.deepEqual(await client.next(), { echo: { before: true }, n: 1 });
      let done = false;
      const closing = listener.close();
      void closing.then(() => (done = true));
      assert.equal(listener.close(), closing, 'a second close() is the same close');
      assert.equal(await refused(target), true, 'a new connection is refused');
      client.conn.send({ after: true });
      assert.deepEqual(await client.next(), { echo: { after: true }, n: 2 }, 'the open stream still works');
      assert.equal(done, false, 'close() waits for the open stream');
      accepted.conns[0]?.close();
      await closing;
      await client.closed;
      await listener.close();
    });

    if (k.kind === 'unix') {
      it('unix: the socket file gets the configured mode and is removed on close', async () => {
        const { listener, config } = await listen();
        assert.equal(config.kind, 'unix');
        if (config.kind !== 'unix') return;
        assert.equal(statSync(config.path).mode & 0o777, config.mode);
        await listener.close();
        assert.equal(existsSync(config.path), false);
      });

      it('unix: a stale socket file is replaced; a live one is refused and left alone', async () => {
        const config = k.config(dir);
        if (config.kind !== 'unix') return;
        // A process that bound the path and died without removing it.
        const script = `require('net').createServer().listen(${JSON.stringify(config.path)}, () => process.kill(process.pid, 'SIGKILL'))`;
        spawnSync(process.execPath, ['-e', script], { timeout: 10_000 });
        assert.ok(statSync(config.path).isSocket(), 'a stale socket file is in place');
        const accepted = echoServer();
        const listener = await startListener(config, accepted.handle);
        const client = new Client({ path: config.path });
        await client.connected();
        client.conn.send({ x: 1 });
        assert.deepEqual(await client.next(), { echo: { x: 1 }, n: 1 });
        await assert.rejects(
          startListener(config, echoServer().handle),
          (err) => err instanceof BesterError && err.code === 'config_invalid' && /another process/.test(err.message),
        );
        client.conn.send({ x: 2 });
        assert.deepEqual(await client.next(), { echo: { x: 2 }, n: 2 }, 'the live listener still serves');
        client.conn.destroy();
        await listener.close();
      });
    }

    it('a daemon on this listener kind accepts a login and relays a message', async (t) => {
      if (skip !== null) return t.skip(skip);
      const tlsMaterial = k.daemonTls?.();
      const daemon = await startTestDaemon({
        listeners: [k.kind],
        handlers: { echo: {} },
        ...(tlsMaterial === undefined ? {} : { tls: tlsMaterial.config }),
      });
      try {
        const listener = daemon.server.listeners[0];
        assert.equal(listener?.kind, k.kind);
        const host = k.kind === 'tcp6' || k.kind === 'tls6' ? '::1' : '127.0.0.1';
        const target: Target =
          k.daemonTarget?.(daemon.port) ??
          (k.kind === 'unix'
            ? { path: daemon.unixPath }
            : { port: daemon.port, host, ...(tlsMaterial === undefined ? {} : { tls: tlsMaterial.client }) });
        const { client: alice, answer } = await loggedIn(target, 'alice', 'alice-pw');
        assert.equal((answer as { header?: { status?: string } }).header?.status, 'good', JSON.stringify(answer));
        const { client: bob } = await loggedIn(target, 'bob', 'bob-pw');
        alice.send(message('echo', 'm1', { to: ['bob'], text: `over ${k.kind}` }));
        const delivery = (await bob.next()) as { header: { messageType: string }; payload: { data: { text: string } } };
        assert.equal(delivery.header.messageType, 'receivedMessage', JSON.stringify(delivery));
        assert.equal(delivery.payload.data.text, `over ${k.kind}`);
        const report = (await alice.next()) as { header: { status: string }; payload: { id: string } };
        assert.deepEqual([report.payload.id, report.header.status], ['m1', 'good']);
        alice.close();
        bob.close();
      } finally {
        await daemon.close();
      }
    });
  });
}

/** Whether this machine can bind `host` (e.g. ::1 where IPv6 is off). */
export function unbindable(host: string): Promise<string | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(`cannot bind ${host}: ${err.code ?? err.message}`));
    server.listen({ host, port: 0, ipv6Only: host.includes(':') }, () => server.close(() => resolve(null)));
  });
}

export function unixPath(dir: string, name: string): string {
  return path.join(dir, name);
}
