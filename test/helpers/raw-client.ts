// A raw frame client for tests: connect, write frames or bytes, read frames with deadlines.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { FrameConnection, UNBOUNDED } from '../../src/framing/frame-connection.ts';
import { encodeFrame, parseFrameText } from '../../src/protocol/frame.ts';
import type { JsonData } from '../../src/protocol/json-text.ts';
import { dialWebSocket } from './ws-client.ts';

/**
 * Where to connect: TCP (over TLS when `tls` is given: its options, e.g. `ca`), a UNIX socket, or a
 * WebSocket URL (ws:// or wss://, frames as messages; `tls` for wss).
 */
export type Target =
  | { port: number; host?: string; tls?: tls.ConnectionOptions }
  | { path: string }
  | { url: string; origin?: string; tls?: tls.ConnectionOptions };

export class RawClient {
  /** The TCP or UNIX socket (under the WebSocket, for a WebSocket target). */
  readonly socket: net.Socket;
  /** What frames and `write()` go to: the socket, or the WebSocket stream over it. */
  readonly #stream: Duplex;
  readonly #frames: JsonData[] = [];
  readonly #waiters: Array<() => void> = [];
  #closed = false;

  private constructor(socket: net.Socket, stream: Duplex = socket) {
    this.socket = socket;
    this.#stream = stream;
    socket.on('error', () => undefined);
    stream.on('error', () => undefined);
    // Framed like every socket of the daemon and the SDKs; raw bytes still go to `socket` directly.
    new FrameConnection(
      stream,
      'raw-client',
      {
        frame: (body) => {
          this.#frames.push(parseFrameText(body));
          this.#wake();
        },
        protocolError: () => socket.destroy(),
        ended: () => undefined, // the socket ends its side too (no half-open)
        closed: () => {
          this.#closed = true;
          this.#wake();
        },
      },
      { maxFrameBytes: 64 * 1024 * 1024, maxOutboundBytes: UNBOUNDED },
    );
  }

  static async connect(target: Target): Promise<RawClient> {
    if ('url' in target) {
      const { stream, socket } = await dialWebSocket(target.url, {
        ...(target.origin === undefined ? {} : { origin: target.origin }),
        ...(target.tls === undefined ? {} : { tls: target.tls }),
      });
      return new RawClient(socket, stream);
    }
    return new Promise((resolve, reject) => {
      const host = 'path' in target ? '' : (target.host ?? '127.0.0.1');
      const socket =
        'path' in target
          ? net.connect({ path: target.path })
          : target.tls !== undefined
            ? tls.connect({ ...target.tls, port: target.port, host, ...(net.isIP(host) === 0 ? { servername: host } : {}) })
            : net.connect({ port: target.port, host });
      socket.once('error', reject);
      socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(value: unknown): void {
    this.#stream.write(encodeFrame(value));
  }

  write(bytes: Buffer | string): void {
    this.#stream.write(bytes);
  }

  /** The next frame, or throws after timeoutMs; null if the connection closed first. */
  async next(timeoutMs = 5000): Promise<unknown> {
    return (await this.nextFrame(timeoutMs))?.value ?? null;
  }

  /** The next frame's JSON text exactly as received, or throws after timeoutMs; null if the connection closed first. */
  async nextText(timeoutMs = 5000): Promise<string | null> {
    return (await this.nextFrame(timeoutMs))?.text ?? null;
  }

  async nextFrame(timeoutMs: number): Promise<JsonData | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#frames.length === 0) {
      if (this.#closed) return null;
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
    return this.#frames.shift() ?? null;
  }

  /** Resolves true once the server closed the connection (within timeoutMs). */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.#closed;
  }

  /** Frames received and not read yet. */
  get queued(): number {
    return this.#frames.length;
  }

  close(): void {
    this.#stream.destroy();
    this.socket.destroy();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

export function login(username: string, password: string): object {
  return { header: { scope: 'client', authentication: { username, password } }, payload: { type: 'login', id: 'login', data: null } };
}

export function message(type: string, id: string, data: unknown): object {
  return { header: {}, payload: { type, id, data } };
}

/** Connects and logs in; asserts nothing, returns the client and the login answer. */
export async function loggedIn(target: Target, username: string, password: string): Promise<{ client: RawClient; answer: unknown }> {
  const client = await RawClient.connect(target);
  client.send(login(username, password));
  return { client, answer: await client.next() };
}
