// The connection core shared by the daemon and the SDKs (STYLE.md #3): any byte stream in, frames
// out; `send(value)`, `close()`. It never opens a socket: it is handed a Duplex (TCP, UNIX, later TLS or
// WebSocket), which keeps protocol/ free of transport choices.
// TCP and UNIX sockets use it as they are; TLS and WebSocket adapters only have to provide a Duplex.
import type { Duplex } from 'node:stream';
import { BesterError } from './errors.ts';
import { encodeFrame, FrameDecoder } from './frame.ts';

export interface FrameConnectionEvents {
  /** One complete frame body (a view: copy to keep). */
  frame(body: Buffer): void;
  /** Framing failed (oversize or empty frame, or too much queued outbound data); the connection is closing. */
  protocolError(err: BesterError): void;
  /** The peer finished sending (half-close). The owner closes once its answers are written. */
  ended(): void;
  /** The stream is gone; called exactly once. `err` is the socket error if there was one. */
  closed(err: Error | null): void;
}

export interface FrameConnectionOptions {
  maxFrameBytes: number;
  /** Outbound bytes queued in the stream before the peer is cut off as a slow consumer. */
  maxOutboundBytes: number;
  /** How long a graceful close waits for the peer before the socket is destroyed (ms). */
  closeTimeoutMs?: number;
}

let nextId = 1;

export class FrameConnection {
  readonly id = nextId++;
  readonly remote: string;
  readonly #stream: Duplex;
  readonly #decoder: FrameDecoder;
  readonly #events: FrameConnectionEvents;
  readonly #maxOutboundBytes: number;
  readonly #closeTimeoutMs: number;
  #closing = false;
  #closed = false;

  constructor(stream: Duplex, remote: string, events: FrameConnectionEvents, options: FrameConnectionOptions) {
    this.#stream = stream;
    this.remote = remote;
    this.#events = events;
    this.#maxOutboundBytes = options.maxOutboundBytes;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.#decoder = new FrameDecoder(
      {
        frame: (body) => {
          if (!this.#closing) events.frame(body);
        },
        error: (err) => {
          events.protocolError(err);
        },
      },
      options.maxFrameBytes,
    );
    stream.on('data', (chunk: Buffer) => this.#decoder.push(chunk));
    stream.on('error', (err) => this.#finish(err));
    stream.on('close', () => this.#finish(null));
    // A peer that half-closes is done sending; its owner answers what it has, then closes.
    stream.on('end', () => {
      if (this.#closing) return;
      if (this.#decoder.midFrame) {
        events.protocolError(new BesterError('malformed_frame', 'the connection ended in the middle of a frame'));
      } else events.ended();
    });
  }

  set maxFrameBytes(value: number) {
    this.#decoder.maxFrameBytes = value;
  }

  get isOpen(): boolean {
    return !this.#closing && !this.#closed;
  }

  /** Encodes and queues one frame. Returns false if the connection is closing or was cut off. */
  send(value: unknown): boolean {
    return this.sendFrame(encodeFrame(value));
  }

  /** Queues an already encoded frame (one encoding can serve many recipients). */
  sendFrame(frame: Buffer): boolean {
    if (this.#closed || this.#stream.writableEnded) return false;
    if (this.#closing && this.#stream.destroyed) return false;
    if (this.#stream.writableLength + frame.length > this.#maxOutboundBytes) {
      // Cut first, then tell the owner: nothing more can be queued to a peer that is not reading.
      this.destroy();
      this.#events.protocolError(
        new BesterError('slow_consumer', `more than ${this.#maxOutboundBytes} bytes waiting to be sent`),
      );
      return false;
    }
    this.#stream.write(frame);
    return true;
  }

  /** Stops reading (e.g. while earlier messages are processed). */
  pause(): void {
    this.#stream.pause();
  }

  resume(): void {
    if (!this.#closing) this.#stream.resume();
  }

  /** Flushes what was sent, then closes; the socket is destroyed if the peer lingers. Idempotent. */
  close(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#decoder.stop();
    this.#stream.end();
    const timer = setTimeout(() => this.destroy(), this.#closeTimeoutMs);
    timer.unref();
    this.#stream.once('close', () => clearTimeout(timer));
  }

  destroy(): void {
    this.#closing = true;
    this.#decoder.stop();
    this.#stream.destroy();
  }

  #finish(err: Error | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#decoder.stop();
    if (!this.#stream.destroyed) this.#stream.destroy();
    this.#events.closed(err);
  }
}
