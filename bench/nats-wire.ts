// The least of the NATS client protocol (docs.nats.io, "Client Protocol") that the benchmark
// needs, on a plain TCP socket: CONNECT, SUB, PUB, MSG, PING/PONG. The generator and the relay
// service use it instead of the official client so that, like the Bester side
// (bench/frame-driver.ts, bench/relay-handler.ts), they spend little per message and are not
// what limits a run. No headers, no reconnects, no TLS: a bench connection to a local server.
import net from 'node:net';

const CRLF = Buffer.from('\r\n');
const MSG = Buffer.from('MSG ');
const PING = Buffer.from('PING');
const ERR = Buffer.from('-ERR');

/** A message arrived on a subscription: its subject, the reply subject ('' if none), the payload (a view: copy to keep). */
export type MsgHandler = (subject: string, reply: string, payload: Buffer) => void;

export class NatsWire {
  readonly socket: net.Socket;
  readonly #handlers = new Map<string, MsgHandler>();
  #pending: Buffer | null = null;
  #nextSid = 1;
  #pong: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      // What is written while the chunk's messages are handled leaves in one write.
      socket.cork();
      this.#read(chunk);
      socket.uncork();
    });
  }

  /** Connects, says CONNECT (no echo, no +OK) and waits for the server's PONG. */
  static async connect(port: number): Promise<NatsWire> {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const wire = new NatsWire(socket);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('NATS connect timed out')), 20_000);
      socket.once('error', reject);
      wire.#pong = () => {
        clearTimeout(timer);
        socket.off('error', reject);
        socket.on('error', () => undefined);
        resolve();
      };
      socket.write('CONNECT {"verbose":false,"pedantic":false,"echo":false,"lang":"bester-bench","version":"1","protocol":1}\r\nPING\r\n');
    });
    return wire;
  }

  subscribe(subject: string, handler: MsgHandler): void {
    const sid = String(this.#nextSid++);
    this.#handlers.set(sid, handler);
    this.socket.write(`SUB ${subject} ${sid}\r\n`);
  }

  /** PUB with the payload copied in after the control line: one buffer, one write call. */
  publish(subject: string, reply: string, payload: Buffer | Uint8Array): void {
    const head = reply === '' ? `PUB ${subject} ${payload.length}\r\n` : `PUB ${subject} ${reply} ${payload.length}\r\n`;
    const out = Buffer.allocUnsafe(head.length + payload.length + 2);
    out.write(head, 0, 'latin1');
    out.set(payload, head.length);
    out[out.length - 2] = 0x0d;
    out[out.length - 1] = 0x0a;
    this.socket.write(out);
  }

  /** Resolves once the server has handled everything written before (PING/PONG). */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.#pong = resolve;
      this.socket.write('PING\r\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #read(chunk: Buffer): void {
    const buf = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = null;
    let at = 0;
    while (at < buf.length) {
      const eol = buf.indexOf(CRLF, at);
      if (eol < 0) break;
      if (buf.compare(MSG, 0, MSG.length, at, at + MSG.length) === 0) {
        // MSG <subject> <sid> [reply-to] <#bytes>
        const args = buf.toString('latin1', at + MSG.length, eol).split(' ');
        const size = Number(args[args.length - 1]);
        const end = eol + 2 + size;
        if (end + 2 > buf.length) break; // the payload is not all here yet
        const handler = this.#handlers.get(args[1]!);
        handler?.(args[0]!, args.length === 4 ? args[2]! : '', buf.subarray(eol + 2, end));
        at = end + 2;
        continue;
      }
      if (buf.compare(PING, 0, PING.length, at, at + PING.length) === 0) this.socket.write('PONG\r\n');
      else if (buf[at] === 0x50 /* P */) this.#pong?.(); // PONG
      else if (buf.compare(ERR, 0, ERR.length, at, at + ERR.length) === 0) throw new Error(`NATS: ${buf.toString('latin1', at, eol)}`);
      at = eol + 2; // INFO, +OK
    }
    if (at < buf.length) this.#pending = buf.subarray(at);
  }
}
