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
  /**
   * Cut the peer off as a slow consumer when bytes wait to be sent and none of them could be handed
   * to the OS for this long (ms). One timer per connection, armed while bytes wait. Off when absent.
   */
  writeStallMs?: number;
  /**
   * Frames sent during one turn of the event loop go out in one write: the stream is corked at the
   * first and uncorked in a setImmediate, after the I/O callbacks of that turn (the daemon's many
   * small reports and deliveries: fewer syscalls). Off when absent.
   */
  coalesceWrites?: boolean;
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
  readonly #writeStallMs: number;
  #stallTimer: NodeJS.Timeout | null = null;
  /** Bytes ever queued, and how many of them had been handed to the OS when the stall timer was armed. */
  #queuedTotal = 0;
  #flushedAtArm = 0;
  #closing = false;
  #closed = false;
  readonly #coalesce: boolean;
  #corked = false;
  /** Bound once: the setImmediate that ends a turn's cork (no closure per frame). */
  readonly #uncork = (): void => {
    this.#corked = false;
    this.#stream.uncork();
  };

  constructor(stream: Duplex, remote: string, events: FrameConnectionEvents, options: FrameConnectionOptions) {
    this.#stream = stream;
    this.remote = remote;
    this.#events = events;
    this.#maxOutboundBytes = options.maxOutboundBytes;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.#writeStallMs = options.writeStallMs ?? 0;
    this.#coalesce = options.coalesceWrites ?? false;
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
    if (this.#writeStallMs > 0) stream.on('drain', () => this.#clearStallTimer());
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

  /**
   * Queues an already encoded frame (one encoding can serve many recipients). `written`, when given,
   * is called once the frame was handed to the operating system (no error) or could not be (an error);
   * it is not called when this returns false.
   */
  sendFrame(frame: Buffer, written?: (err: Error | null | undefined) => void): boolean {
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
    if (this.#coalesce && !this.#corked) {
      this.#corked = true;
      this.#stream.cork();
      setImmediate(this.#uncork);
    }
    if (written) this.#stream.write(frame, written);
    else this.#stream.write(frame);
    this.#queuedTotal += frame.length;
    if (this.#writeStallMs > 0 && this.#stallTimer === null && this.#stream.writableLength > 0) this.#armStallTimer();
    return true;
  }

  #armStallTimer(): void {
    this.#flushedAtArm = this.#queuedTotal - this.#stream.writableLength;
    this.#stallTimer = setTimeout(() => this.#checkStall(), this.#writeStallMs);
    this.#stallTimer.unref();
  }

  #clearStallTimer(): void {
    if (this.#stallTimer !== null) clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
  }

  /** docs/protocol.md §7 `slow_consumer`: bytes waited a whole writeStallMs and none of them were sent. */
  #checkStall(): void {
    this.#stallTimer = null;
    const waiting = this.#stream.writableLength;
    if (this.#closed || waiting === 0) return;
    if (this.#queuedTotal - waiting > this.#flushedAtArm) {
      this.#armStallTimer(); // slow, but moving
      return;
    }
    this.destroy();
    this.#events.protocolError(
      new BesterError('slow_consumer', `${waiting} bytes waited ${this.#writeStallMs} ms without being read`),
    );
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
    this.#clearStallTimer();
    this.#decoder.stop();
    if (!this.#stream.destroyed) this.#stream.destroy();
    this.#events.closed(err);
  }
}
