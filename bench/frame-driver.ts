// A generator's pairs on Bester's wire (besterd and the minimal relay): one TCP connection per
// sender and per receiver, length-prefixed frames (docs/protocol.md §1). Per message the sender
// copies a pre-encoded frame and writes two numbers in it; acknowledgements and deliveries are
// recognised by a byte search, not parsed.
import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../src/protocol/frame.ts';
import type { GeneratorConfig, GeneratorState, PairDriver } from './generator-state.ts';
import { dataText, MessageTemplate, nowUs, readTimestampUs } from './message-template.ts';

const GOOD = Buffer.from('"status":"good"');
const MAX_FRAME = 1 << 26;

class Connection {
  readonly socket: net.Socket;
  readonly decoder: FrameDecoder;
  onFrame: (body: Buffer) => void = () => undefined;

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.socket.on('error', () => undefined);
    this.decoder = new FrameDecoder({ frame: (b) => this.onFrame(b), error: () => this.socket.destroy() }, MAX_FRAME);
    this.socket.on('data', (chunk: Buffer) => {
      // The writes made for the acknowledgements of one chunk leave in one writev.
      this.socket.cork();
      this.decoder.push(chunk);
      this.socket.uncork();
    });
  }

  login(user: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`login of ${user} timed out`)), 60_000);
      this.socket.once('close', () => reject(new Error(`connection of ${user} closed`)));
      this.onFrame = (body) => {
        clearTimeout(timer);
        if (body.indexOf(GOOD) >= 0) resolve();
        else reject(new Error(`login of ${user} refused: ${body.toString('utf8')}`));
      };
      this.socket.write(encodeFrame({ header: { scope: 'client', authentication: { username: user, password: 'bench-pw' } }, payload: { type: 'login', id: 'l', data: null } }));
    });
  }
}

export async function openFramePairs(cfg: GeneratorConfig, st: GeneratorState): Promise<PairDriver> {
  const senders: Array<{ conn: Connection; send: () => void }> = [];
  const receivers: Connection[] = [];
  const all: Connection[] = [];
  const logins: Array<Promise<void>> = [];
  for (let i = cfg.from; i < cfg.to; i++) {
    const ports = cfg.ports ?? [cfg.port];
    const receiver = new Connection(ports[(i + 1) % ports.length]!);
    const sender = new Connection(ports[i % ports.length]!);
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
      sender.socket.write(template.make(++seq, nowUs()));
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
        conn.socket.cork();
        for (let w = 0; w < cfg.window; w++) send();
        conn.socket.uncork();
      }
    },
    async close() {
      for (const conn of all) conn.socket.destroy();
      await Promise.resolve();
    },
  };
}
