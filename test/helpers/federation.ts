// Several real daemons on loopback for federation tests: each in its own temp dir (kept across
// restarts, so its SQLite outbox survives), on a port the OS picked and that it keeps on restart.
import { createHmac, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import { FEDERATION_VERSION, HELLO, open, ReplayCache, seal, WELCOME } from '../../src/protocol/federation.ts';
import type { JsonObject } from '../../src/protocol/json.ts';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../src/cli/daemon-node-flags.ts';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import type { ServerConfig } from '../../src/server/config/types.ts';
import type { Logger } from '../../src/server/log.ts';
import { startServer, type BesterServer } from '../../src/server/server.ts';
import { ROOT, rawConfig, tempDir } from './daemon.ts';
import { RawClient } from './raw-client.ts';

export const ROUTE_HANDLER = path.join(ROOT, 'test/fixtures/handlers/route-handler.ts');
export const FAULT_HANDLER = path.join(ROOT, 'test/fixtures/handlers/fault-handler.ts');
export const SECRET = 'federation-test-secret-0123456789';

export interface NodeSpec {
  readonly name: string;
  readonly handlers: readonly string[];
  readonly users?: readonly string[];
  /** The `federation` config block without nodeId (filled in). */
  readonly federation?: Record<string, unknown>;
  /** The handler program (default: the route handler). */
  readonly script?: string;
  /** Handler types configured with "input": "envelope". */
  readonly envelope?: readonly string[];
  /** The `limits` config block. */
  readonly limits?: Record<string, unknown>;
}

/** A log sink that keeps every JSON line, for asserting that a refusal was logged with its reason. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

export class TestNode {
  readonly spec: NodeSpec;
  readonly dir = tempDir('bf-');
  port = 0;
  server: BesterServer | null = null;
  readonly log = captureLogger();

  constructor(spec: NodeSpec) {
    this.spec = spec;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(federation: Record<string, unknown> = this.spec.federation ?? {}): Promise<this> {
    const config = this.config(federation);
    if (config.accounts.kind === 'sqlite') {
      const store = await openSqliteAccountStore(config.accounts.path);
      for (const user of this.spec.users ?? []) if (!(await store.has(user))) await store.add(user, `${user}-pw`);
      await store.close();
    }
    this.server = await startServer(config, { logger: this.log.logger });
    this.port = this.server.listeners[0]!.port!;
    return this;
  }

  /** Reloads the running node with another `federation` block (docs/federation.md, "Reloading peers"). */
  reload(federation: Record<string, unknown>): ReturnType<BesterServer['reload']> {
    if (this.server === null) throw new Error(`${this.spec.name} is not running`);
    return this.server.reload(this.config(federation));
  }

  /** This node's config with `federation` as its federation block (and the port it listens on, once started). */
  config(federation: Record<string, unknown>): ServerConfig {
    const script = this.spec.script ?? ROUTE_HANDLER;
    const input = (t: string): { input?: 'envelope' } => (this.spec.envelope?.includes(t) === true ? { input: 'envelope' } : {});
    const handlers = Object.fromEntries(this.spec.handlers.map((t) => [t, { binary: process.execPath, args: [script], ...input(t) }]));
    const raw = rawConfig(this.dir, {
      listeners: ['tcp4'],
      handlers,
      extra: {
        federation: { nodeId: this.spec.name, heartbeatMs: 500, reconnectDelayMs: 50, maxReconnectDelayMs: 300, ...federation },
        ...(this.spec.limits ? { limits: this.spec.limits } : {}),
      },
    });
    (raw.network as { tcp4: { port: string } }).tcp4.port = String(this.port);
    return parseConfig(raw, { baseDir: this.dir }).config;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = null;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A peer entry for `node` as seen from another server. */
export function peerOf(node: TestNode, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { address: node.address, secret: SECRET, ...extra };
}

export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Sealed = { header: Record<string, unknown>; payload: JsonObject };

/**
 * A raw peer holding the right secret (a buggy or hostile server): opens a link to `node` as `as`,
 * and sends whatever sealed payloads a test scripts. Frames it receives are opened and returned as
 * payloads; an unsealed error frame comes back as `{error: code, reason}`.
 */
export class ScriptedPeer {
  readonly raw: RawClient;
  readonly as: string;
  readonly to: string;
  readonly #replay = new ReplayCache();

  private constructor(raw: RawClient, as: string, to: string) {
    this.raw = raw;
    this.as = as;
    this.to = to;
  }

  /** Connects and sends the hello; does not wait for the welcome. */
  static async connect(node: { port: number; spec: { name: string } }, as: string, to = node.spec.name): Promise<ScriptedPeer> {
    const peer = new ScriptedPeer(await RawClient.connect({ port: node.port }), as, to);
    peer.raw.send(seal(SECRET, as, to, { type: HELLO, id: 'hello' }, { first: true }));
    return peer;
  }

  /** Connects, and resolves with the welcome's payload. */
  static async open(node: { port: number; spec: { name: string } }, as: string, to = node.spec.name): Promise<{ peer: ScriptedPeer; welcome: JsonObject }> {
    const peer = await ScriptedPeer.connect(node, as, to);
    const welcome = await peer.next(10_000, (p) => p.type === WELCOME);
    return { peer, welcome };
  }

  sealed(payload: JsonObject): Buffer {
    return encodeFrame(seal(SECRET, this.as, this.to, payload));
  }

  send(payload: JsonObject): void {
    this.raw.write(this.sealed(payload));
  }

  /**
   * A frame whose payload is `payloadText` as it is, sealed correctly over that text (the canonical
   * string of docs/federation.md §3): what a peer holding the secret can send, JSON or not.
   */
  sealedText(payloadText: string): Buffer {
    const ts = Date.now();
    const nonce = randomBytes(16).toString('base64url');
    const canonical = `bester-federation-v${FEDERATION_VERSION}\n${this.as}\n${this.to}\n${ts}\n${nonce}\n${payloadText}`;
    const mac = createHmac('sha256', SECRET).update(canonical, 'utf8').digest('hex');
    const federation = { version: FEDERATION_VERSION, from: this.as, to: this.to, ts, nonce, mac };
    const text = `{"header":{"federation":${JSON.stringify(federation)}},"payload":${payloadText}}`;
    const frame = Buffer.alloc(4 + Buffer.byteLength(text));
    frame.writeUInt32LE(frame.length - 4, 0);
    frame.write(text, 4, 'utf8');
    return frame;
  }

  /** A message payload as a server would send it. */
  static message(seq: number, data: unknown, extra: Partial<Record<string, unknown>> = {}): JsonObject {
    return { type: 'M1', id: `p-${seq}`, data, origin: 'p1', seq, hops: 1, sender: 'alice', ...extra };
  }

  /** The next frame that `accept` takes (others are skipped; pongs always are); null once closed. */
  async next(timeoutMs = 5000, accept: (p: Record<string, unknown>) => boolean = () => true): Promise<JsonObject> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100_000; i++) {
      const value = await this.raw.next(Math.max(1, deadline - Date.now()));
      if (value === null) throw new Error('the link closed');
      const frame = value as Sealed;
      if (frame.header && typeof frame.header['code'] === 'string') {
        const error = { error: frame.header['code'], reason: frame.header['reason'] } as JsonObject;
        if (accept(error)) return error;
        continue;
      }
      const opened = open(value, { secret: SECRET, self: this.as, peer: this.to, replay: this.#replay });
      if (!opened.ok) throw new Error(`bad frame from the node: ${opened.reason}`);
      if (opened.payload.type === 'bester.pong') continue;
      if (accept(opened.payload)) return opened.payload;
    }
    throw new Error('too many frames');
  }

  close(): void {
    this.raw.close();
  }
}

/**
 * A scripted receiving server (a buggy or hostile peer on the other end of our link): accepts the
 * node's link, welcomes it with the `lastSeq` a test chooses, and acknowledges or not.
 */
export class ScriptedReceiver {
  readonly server: net.Server;
  readonly name: string;
  readonly received: JsonObject[] = [];
  hellos = 0;
  /** What the welcome says; `ack`: whether messages are acknowledged. */
  lastSeq = 0;
  ack = true;
  ackStatus = 'ok';
  readonly #sockets = new Set<net.Socket>();

  private constructor(name: string, from: string) {
    this.name = name;
    const replay = new ReplayCache();
    this.server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      const send = (payload: JsonObject): void => {
        socket.write(encodeFrame(seal(SECRET, name, from, payload)));
      };
      const decoder = new FrameDecoder(
        {
          frame: (body) => {
            const opened = open(parseFrameJson(body), { secret: SECRET, self: name, peer: from, replay });
            if (!opened.ok) {
              socket.destroy();
              return;
            }
            const p = opened.payload;
            if (p.type === HELLO) {
              this.hellos++;
              send({ type: WELCOME, lastSeq: this.lastSeq });
            } else if (p.type === 'bester.ping') send({ type: 'bester.pong' });
            else if (typeof p.seq === 'number') {
              this.received.push(p);
              if (this.ack) send({ type: 'bester.ack', seq: p.seq, status: this.ackStatus, reason: 'scripted refusal' });
            }
          },
          error: () => socket.destroy(),
        },
        64 << 20,
      );
      socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    });
  }

  static async start(name: string, from: string): Promise<ScriptedReceiver> {
    const r = new ScriptedReceiver(name, from);
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    return r;
  }

  get address(): string {
    return `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  close(): void {
    this.server.close();
    for (const socket of this.#sockets) socket.destroy();
  }
}

/**
 * A daemon in its own process (besterd CONFIG), for kill -9: its SQLite file and port are kept
 * across restarts (the port the OS gave at the first start).
 */
export class ChildNode {
  readonly dir = tempDir('bk-');
  readonly name: string;
  readonly #config: Record<string, unknown>;
  port = 0;
  #child: import('node:child_process').ChildProcess | null = null;

  constructor(name: string, options: { handlers: readonly string[]; federation: Record<string, unknown>; script?: string }) {
    this.name = name;
    const script = options.script ?? ROUTE_HANDLER;
    const handlers = Object.fromEntries(options.handlers.map((t) => [t, { binary: process.execPath, args: [script] }]));
    this.#config = rawConfig(this.dir, {
      listeners: ['tcp4'],
      handlers,
      extra: { federation: { nodeId: name, heartbeatMs: 500, reconnectDelayMs: 50, maxReconnectDelayMs: 300, ...options.federation } },
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** As ScriptedPeer.connect wants it. */
  get spec(): { name: string } {
    return { name: this.name };
  }

  /** The daemon's pid while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async addUsers(users: readonly string[]): Promise<void> {
    const store = await openSqliteAccountStore(path.join(this.dir, 'bester.db'));
    for (const user of users) if (!(await store.has(user))) await store.add(user, `${user}-pw`);
    await store.close();
  }

  /** Starts the process; resolves once it listens. */
  async start(): Promise<void> {
    const { spawn } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    const { createInterface } = await import('node:readline');
    (this.#config.network as { tcp4: { port: string } }).tcp4.port = String(this.port);
    const file = path.join(this.dir, 'server.conf');
    writeFileSync(file, JSON.stringify(this.#config));
    // Its own process group: kill() takes its handlers down with it, as a crash of the machine would.
    // Started as bin/besterd.js's first line starts it: the daemon's Node flags and environment.
    const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, path.join(ROOT, 'bin/besterd.js'), file], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
      env: { ...process.env, ...DAEMON_ENV },
    });
    child.on('error', () => undefined);
    this.#child = child;
    const lines = createInterface({ input: child.stdout });
    const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not start in 15 s`)), 15_000);
      child.once('exit', (code) => reject(new Error(`${this.name} exited (${code}) before it started`)));
      lines.on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'besterd started') {
          clearTimeout(timer);
          resolve(entry);
        }
      });
    });
    const tcp = (info.listeners as string[]).find((a) => a.startsWith('tcp4://'))!;
    this.port = Number(tcp.split(':').pop());
  }

  /** kill -9 of the daemon and its handlers (its process group), and waits for the daemon to be gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.pid === undefined) return;
    if (child.exitCode !== null || child.signalCode !== null) {
      try {
        process.kill(-child.pid, 'SIGKILL'); // its handlers, if any are left
      } catch {
        // the group is gone
      }
      return;
    }
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(-child.pid, 'SIGKILL');
    await gone;
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
