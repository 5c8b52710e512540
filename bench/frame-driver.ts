// A generator's pairs on Bester's wire (besterd and the minimal relay): one TCP (or TLS) connection per
// sender and per receiver, length-prefixed frames (docs/protocol.md §1), or one WebSocket each,
// a frame per message (§1.5, besterd's ws listener: GeneratorConfig.kind "ws"). Per message the sender
// copies a pre-encoded frame and writes two numbers in it; acknowledgements and deliveries are
// recognised by a byte search, not parsed.
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder } from '../src/protocol/frame.ts';
import { SUBPROTOCOL } from '../src/server/transport/ws-listener.ts';
import type { GeneratorConfig, GeneratorState, PairDriver } from './generator-state.ts';
import { dataText, MessageTemplate, nowUs, readTimestampUs } from './message-template.ts';

const GOOD = Buffer.from('"status":"good"');
const MAX_FRAME = 1 << 26;

/** One client connection of a pair: frames out, frame bodies in. */
abstract class Connection {
  onFrame: (body: Buffer) => void = () => undefined;
  /** Sends one encoded frame. */
  abstract send(frame: Buffer): void;
  /** Writes made until uncork() leave together. */
  abstract cork(): void;
  abstract uncork(): void;
  abstract destroy(): void;
  protected abstract opened(): Promise<void>;
  protected abstract onClose(listener: () => void): void;

  async login(user: string): Promise<void> {
    await this.opened();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`login of ${user} timed out`)), 60_000);
      this.onClose(() => reject(new Error(`connection of ${user} closed`)));
      this.onFrame = (body) => {
        clearTimeout(timer);
        if (body.indexOf(GOOD) >= 0) resolve();
        else reject(new Error(`login of ${user} refused: ${body.toString('utf8')}`));
      };
      this.send(encodeFrame({ header: { scope: 'client', authentication: { username: user, password: 'bench-pw' } }, payload: { type: 'login', id: 'l', data: null } }));
    });
  }
}

class TcpConnection extends Connection {
  readonly socket: net.Socket;
  readonly decoder: FrameDecoder;

  constructor(port: number, secure?: { ca: string }) {
    super();
    this.socket = secure === undefined ? net.connect({ port, host: '127.0.0.1', noDelay: true }) : tls.connect({ port, host: '127.0.0.1', ca: secure.ca });
    this.socket.setNoDelay(true);
    this.socket.on('error', () => undefined);
    this.decoder = new FrameDecoder({ frame: (b) => this.onFrame(b), error: () => this.socket.destroy() }, MAX_FRAME);
    this.socket.on('data', (chunk: Buffer) => {
      // The writes made for the acknowledgements of one chunk leave in one writev.
      this.socket.cork();
      this.decoder.push(chunk);
      this.socket.uncork();
    });
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  destroy(): void {
    this.socket.destroy();
  }

  protected opened(): Promise<void> {
    return Promise.resolve(); // writes wait in the socket until it connects
  }

  protected onClose(listener: () => void): void {
    this.socket.once('close', listener);
  }
}

/**
 * The same over a WebSocket: each frame goes as one text message without its length prefix. Spoken
 * on a plain socket, like TcpConnection (the handshake written and read here, frames built and read
 * in place), not with the ws package: ws's per-message work in the generator took CPU that this
 * 2-core machine's daemon then lacked, which TcpConnection's raw frames do not. Client frames carry
 * an all-zero masking key: RFC 6455 §5.3 wants an unpredictable one from a browser (against proxy
 * cache poisoning by scripts); between the bench and its own daemon a fixed one is harmless, and the
 * daemon unmasks each frame as with any key, so its own cost is unchanged.
 */
class WsConnection extends Connection {
  readonly socket: net.Socket;
  readonly #open: Promise<void>;
  /** Bytes of the response head, then of frames, not yet read. */
  #pending: Buffer = Buffer.alloc(0);
  #upgraded = false;

  constructor(port: number) {
    super();
    this.socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.socket.on('error', () => undefined);
    const key = randomBytes(16).toString('base64');
    this.socket.write(`GET /bester HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n\r\n`);
    this.#open = new Promise((resolve, reject) => {
      this.socket.once('close', () => reject(new Error('the WebSocket closed before it opened')));
      this.socket.on('data', (chunk: Buffer) => {
        this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
        if (!this.#upgraded) {
          const end = this.#pending.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = this.#pending.toString('latin1', 0, end);
          if (!head.startsWith('HTTP/1.1 101')) {
            reject(new Error(`WebSocket upgrade refused: ${head.split('\r\n')[0]}`));
            this.socket.destroy();
            return;
          }
          this.#upgraded = true;
          this.#pending = this.#pending.subarray(end + 4);
          resolve();
        }
        this.socket.cork();
        this.#readFrames();
        this.socket.uncork();
      });
    });
    this.#open.catch(() => undefined);
  }

  /** Server frames (never masked): text messages to onFrame, pings answered, a close ends the socket. */
  #readFrames(): void {
    let buf = this.#pending;
    for (;;) {
      if (buf.length < 2) break;
      const opcode = buf[0]! & 0x0f;
      let length = buf[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (buf.length < 4) break;
        length = buf.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (buf.length < 10) break;
        length = buf.readUInt32BE(2) * 0x1_0000_0000 + buf.readUInt32BE(6);
        at = 10;
      }
      if (buf.length < at + length) break;
      const body = buf.subarray(at, at + length);
      buf = buf.subarray(at + length);
      if (opcode === 0x1 || opcode === 0x2) this.onFrame(body);
      else if (opcode === 0x9) this.socket.write(clientFrame(0x8a, body));
      else if (opcode === 0x8) this.socket.destroy();
    }
    this.#pending = buf;
  }

  send(frame: Buffer): void {
    this.socket.write(clientFrame(0x81, frame.subarray(FRAME_HEADER_BYTES)));
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  destroy(): void {
    this.socket.destroy();
  }

  protected opened(): Promise<void> {
    return this.#open;
  }

  protected onClose(listener: () => void): void {
    this.socket.once('close', listener);
  }
}

/** A client frame (RFC 6455 §5.2): FIN and `first` (0x81 text, 0x8a pong), masked with an all-zero key (see WsConnection). */
function clientFrame(first: number, body: Buffer): Buffer {
  const n = body.length;
  const ext = n < 126 ? 0 : n < 65_536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + n);
  out[0] = first;
  if (ext === 0) out[1] = 0x80 | n;
  else if (ext === 2) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  out.writeUInt32BE(0, 2 + ext); // the masking key
  body.copy(out, 2 + ext + 4);
  return out;
}


export async function openFramePairs(cfg: GeneratorConfig, st: GeneratorState): Promise<PairDriver> {
  const senders: Array<{ conn: Connection; send: () => void }> = [];
  const receivers: Connection[] = [];
  const all: Connection[] = [];
  const logins: Array<Promise<void>> = [];
  for (let i = cfg.from; i < cfg.to; i++) {
    const ports = cfg.ports ?? [cfg.port];
    const receiverPort = ports[(i + 1) % ports.length]!;
    const senderPort = ports[i % ports.length]!;
    const receiver = cfg.kind === 'ws' ? new WsConnection(receiverPort) : new TcpConnection(receiverPort, cfg.tls);
    const sender = cfg.kind === 'ws' ? new WsConnection(senderPort) : new TcpConnection(senderPort, cfg.tls);
    all.push(receiver, sender);
    receivers.push(receiver);
    logins.push(receiver.login(`r${i}`), sender.login(`s${i}`));
    const template = new MessageTemplate(
      `{"header":{},"payload":{"type":"relay","id":"${MessageTemplate.idPlaceholder}","data":${dataText(`r${i}`, cfg.size)}}}`,
      true,
    );
    let seq = 0;
    const send = (): void => {
      st.sent++;
      sender.send(template.make(++seq, nowUs()));
    };
    senders.push({ conn: sender, send });
  }
  await Promise.all(logins);
  for (const conn of receivers) {
    conn.onFrame = (body) => {
      const t = readTimestampUs(body);
      if (t < 0) return;
      st.delivered++;
      st.latencies.record(nowUs() - t);
    };
  }
  for (const { conn, send } of senders) {
    conn.onFrame = (body) => {
      if (body.indexOf(GOOD) < 0) {
        st.refused++;
        return;
      }
      st.acknowledged++;
      if (st.sending) send();
    };
  }
  return {
    start() {
      for (const { conn, send } of senders) {
        conn.cork();
        for (let w = 0; w < cfg.window; w++) send();
        conn.uncork();
      }
    },
    async close() {
      for (const conn of all) conn.destroy();
      await Promise.resolve();
    },
  };
}
