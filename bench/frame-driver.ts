// A generator's pairs on Bester's wire (besterd and the minimal relay): one TCP (or TLS) connection per
// sender and per receiver, length-prefixed frames (docs/protocol.md §1), or one WebSocket each,
// a frame per message (§1.5, besterd's ws listener: GeneratorConfig.kind "ws"). Per message the sender
// copies a pre-encoded frame and writes two numbers in it; acknowledgements and deliveries are
// recognised by a byte search, not parsed.
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
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

/** The same over a WebSocket: each frame goes as one text message without its length prefix. */
class WsConnection extends Connection {
  readonly #webSocket: WebSocket;
  /** The TCP socket under it, from the upgrade: corked around a batch of sends. */
  #socket: net.Socket | null = null;

  constructor(port: number) {
    super();
    // An all-zero masking key spares the generator ws's masking, so that its CPU, shared with the
    // daemon on this machine, limits the run less. RFC 6455 §5.3 wants an unpredictable key from a
    // browser (against proxy cache poisoning by scripts); between the bench and its own daemon a
    // fixed one is harmless. The daemon unmasks every frame as with any key: its cost is unchanged.
    this.#webSocket = new WebSocket(`ws://127.0.0.1:${port}/bester`, [SUBPROTOCOL], { perMessageDeflate: false, skipUTF8Validation: true, generateMask: NO_MASK });
    this.#webSocket.on('error', () => undefined);
    this.#webSocket.once('upgrade', (res) => {
      this.#socket = res.socket;
      this.#socket.setNoDelay(true);
    });
    this.#webSocket.on('message', (data: Buffer) => {
      this.#socket?.cork();
      this.onFrame(data);
      this.#socket?.uncork();
    });
  }

  send(frame: Buffer): void {
    this.#webSocket.send(frame.subarray(FRAME_HEADER_BYTES), TEXT);
  }

  cork(): void {
    this.#socket?.cork();
  }

  uncork(): void {
    this.#socket?.uncork();
  }

  destroy(): void {
    this.#webSocket.terminate();
  }

  protected opened(): Promise<void> {
    if (this.#webSocket.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#webSocket.once('open', () => resolve());
      this.#webSocket.once('close', () => reject(new Error('the WebSocket closed before it opened')));
    });
  }

  protected onClose(listener: () => void): void {
    this.#webSocket.once('close', listener);
  }
}

const TEXT = Object.freeze({ binary: false });

/** ws's generateMask: leaves the masking key all zeros (see WsConnection). */
function NO_MASK(): void {}

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
