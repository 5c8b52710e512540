// The connection core shared by the daemon and the SDKs (STYLE.md #3): any byte stream in, frames
// out; `send(value)`, `close()`. It never opens a socket: it is handed a Duplex (TCP, UNIX, later TLS
// or WebSocket). It is the one way every socket in the daemon and the SDKs is framed, down to the
// daemon's one-shot handler calls, so it stays cheap: no per-frame closures, no timers unless asked
// for, listeners installed once. Its owner names it (`label`, for errors and logs); it keeps no
// global state. Dependencies: server/ and sdk/ -> framing/ -> protocol/.
import type { Duplex, Writable } from 'node:stream';
import { BesterError } from '../protocol/errors.ts';
import { encodeFrame, FrameDecoder, frameLength, type FrameSink, type OutFrame } from '../protocol/frame.ts';

/**
 * Writes one frame to `stream`; a frame in pieces (OutFrame) in one writev, the stream corked
 * for them unless it is already. `written` as for stream.write, called once for the whole frame.
 */
export function writeFrame(stream: Writable, frame: OutFrame, written?: (err: Error | null | undefined) => void): void {
  if (!Array.isArray(frame)) {
    if (written) stream.write(frame, written);
    else stream.write(frame);
    return;
  }
  const pieces = frame as readonly Buffer[];
  const cork = stream.writableCorked === 0;
  if (cork) stream.cork();
  const last = pieces.length - 1;
  for (let i = 0; i < last; i++) stream.write(pieces[i]);
  if (written) stream.write(pieces[last], written);
  else stream.write(pieces[last]);
  if (cork) stream.uncork();
}

export interface FrameConnectionEvents {
  /** One complete frame body (a view: copy to keep). */
  frame(body: Buffer): void;
  /** Framing failed (oversize or empty frame, the stream ended mid-frame, or a slow consumer); the connection is closing. */
  protocolError(err: BesterError): void;
  /** The peer finished sending (half-close). The owner closes once its answers are written. */
  ended(): void;
  /** The stream is gone; called exactly once. `err` is the stream error if there was one. */
  closed(err: Error | null): void;
}

export interface FrameConnectionOptions {
  maxFrameBytes: number;
  /** Outbound bytes queued in the stream before the peer is cut off as a slow consumer. */
  maxOutboundBytes: number;
  /** How long a graceful close waits for the peer before the stream is destroyed (ms). */
  closeTimeoutMs?: number;
  /**
   * Cut the peer off as a slow consumer when bytes wait to be sent and none of them could be handed
   * to the OS for this long (ms). One timer per connection, armed while bytes wait. Off when absent.
   */
  writeStallMs?: number;
  /**
   * Frames sent during one turn of the event loop go out in one write, in a setImmediate after the
   * I/O callbacks of that turn (the daemon's many small reports and deliveries: fewer syscalls).
   * The connection gathers them itself and copies small ones into one buffer: one stream.write a
   * turn instead of one per frame. Off when absent.
   */
  coalesceWrites?: boolean;
}

/** The protocolError message (code malformed_frame) when the peer half-closed in the middle of a frame. */
export const ENDED_MID_FRAME = 'the connection ended in the middle of a frame';

/** A turn's frames up to this many bytes in all are copied into one buffer; more go out as they are, in one writev. */
const COPY_TURN_BYTES = 64 * 1024;

/** Told to a frame's `written` when the connection was gone before the turn's write. */
const GONE = new Error('the connection closed before the frame was written');

/** No per-connection limit on queued bytes (an owner that bounds its writes itself, e.g. one request per call). */
export const UNBOUNDED = Number.MAX_SAFE_INTEGER;

/**
 * A read this big filled libuv's whole buffer: more is likely waiting, and libuv would read up to
 * 32 of them in one go (2 MiB), holding every other connection's turn. After one, the connection
 * stops reading until the end of the loop's turn (FrameConnection.#onData).
 */
export const FULL_READ_BYTES = 64 * 1024;

/** Who holds reading paused: the owner (pause/resume), the turn after a full read, or both. */
const OWNER_HOLD = 1;
const TURN_HOLD = 2;

/** The stream's back-reference to its connection: the stream listeners are shared functions, not closures per connection. */
const OWNER = Symbol('FrameConnection');
type Owned = Duplex & { [OWNER]?: FrameConnection | undefined };

export class FrameConnection implements FrameSink {
  /** The owner's name for it (a peer address, a socket path), for errors and logs. */
  readonly label: string;
  readonly #stream: Duplex;
  readonly #decoder: FrameDecoder;
  readonly #events: FrameConnectionEvents;
  readonly #maxOutboundBytes: number;
  readonly #closeTimeoutMs: number;
  readonly #writeStallMs: number;
  /** The setImmediate that writes a turn's frames, bound once when coalescing (no allocation per turn); null otherwise. */
  readonly #flushTurn: (() => void) | null;
  /** This turn's frames (their pieces), not yet handed to the stream, and their bytes (coalesceWrites). */
  readonly #turn: Buffer[] = [];
  #turnBytes = 0;
  /** The `written` callbacks of this turn's frames, in order; null when none asked. */
  #turnWritten: Array<(err: Error | null | undefined) => void> | null = null;
  #stallTimer: NodeJS.Timeout | null = null;
  /** Bytes ever queued, and how many of them had been handed to the OS when the stall timer was armed. */
  #queuedTotal = 0;
  #flushedAtArm = 0;
  #closing = false;
  #closed = false;
  /** A turn's write is scheduled (coalesceWrites). */
  #flushing = false;
  /** OWNER_HOLD | TURN_HOLD: reading resumes when neither holds it. */
  #holds = 0;

  constructor(stream: Duplex, label: string, events: FrameConnectionEvents, options: FrameConnectionOptions) {
    this.#stream = stream;
    this.label = label;
    this.#events = events;
    this.#maxOutboundBytes = options.maxOutboundBytes;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.#writeStallMs = options.writeStallMs ?? 0;
    this.#flushTurn = options.coalesceWrites === true ? () => this.#flush() : null;
    // The connection is the decoder's sink itself: no sink object or closures per connection.
    this.#decoder = new FrameDecoder(this, options.maxFrameBytes);
    (stream as Owned)[OWNER] = this;
    stream.on('data', FrameConnection.#onData);
    stream.on('error', FrameConnection.#onError);
    stream.on('close', FrameConnection.#onClose);
    stream.on('end', FrameConnection.#onEnd);
    if (this.#writeStallMs > 0) stream.on('drain', FrameConnection.#onDrain);
  }

  // Stream listeners: one function each for every connection (called with the stream as `this`,
  // which names its connection), so that an idle connection holds no closures (docs/performance.md,
  // idle connections); removable by release().
  static #onData(this: Owned, chunk: Buffer): void {
    const conn = this[OWNER];
    if (conn === undefined) return;
    conn.#decoder.push(chunk);
    // One full read a turn: a peer streaming big frames gets its next read after the other
    // connections' reads and answers of this turn, not up to 2 MiB of reads (and their copies) before them.
    if (chunk.length >= FULL_READ_BYTES && (conn.#holds & TURN_HOLD) === 0 && !conn.#closed) {
      conn.#hold(TURN_HOLD, true);
      setImmediate(FrameConnection.#endTurn, conn);
    }
  }

  static #endTurn(conn: FrameConnection): void {
    conn.#hold(TURN_HOLD, false);
  }

  static #onError(this: Owned, err: Error): void {
    const conn = this[OWNER];
    if (conn !== undefined) conn.#finish(err);
  }

  static #onClose(this: Owned): void {
    const conn = this[OWNER];
    if (conn !== undefined) conn.#finish(null);
  }

  static #onDrain(this: Owned): void {
    const conn = this[OWNER];
    if (conn !== undefined) conn.#clearStallTimer();
  }

  /** A peer that half-closes is done sending; its owner answers what it has, then closes. */
  static #onEnd(this: Owned): void {
    const conn = this[OWNER];
    if (conn === undefined || conn.#closing) return;
    if (conn.#decoder.midFrame) {
      conn.#events.protocolError(new BesterError('malformed_frame', ENDED_MID_FRAME));
    } else conn.#events.ended();
  }

  /** FrameSink: a complete frame from the decoder. Not for owners. */
  frame(body: Buffer): void {
    if (!this.#closing) this.#events.frame(body);
  }

  /** FrameSink: the decoder failed (oversize or empty frame). Not for owners. */
  error(err: BesterError): void {
    this.#events.protocolError(err);
  }

  set maxFrameBytes(value: number) {
    this.#decoder.maxFrameBytes = value;
  }

  get isOpen(): boolean {
    return !this.#closing && !this.#closed;
  }

  /** Whether bytes of an unfinished frame were received. */
  get midFrame(): boolean {
    return this.#decoder.midFrame;
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
  sendFrame(frame: OutFrame, written?: (err: Error | null | undefined) => void): boolean {
    const stream = this.#stream;
    if (this.#closed || stream.writableEnded) return false;
    if (this.#closing && stream.destroyed) return false;
    const length = frameLength(frame);
    if (stream.writableLength + this.#turnBytes + length > this.#maxOutboundBytes) {
      // Cut first, then tell the owner: nothing more can be queued to a peer that is not reading.
      this.destroy();
      this.#events.protocolError(
        new BesterError('slow_consumer', `more than ${this.#maxOutboundBytes} bytes waiting to be sent`),
      );
      return false;
    }
    if (this.#flushTurn !== null) {
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(this.#flushTurn);
      }
      if (Array.isArray(frame)) for (const piece of frame as readonly Buffer[]) this.#turn.push(piece);
      else this.#turn.push(frame as Buffer);
      this.#turnBytes += length;
      if (written !== undefined) (this.#turnWritten ??= []).push(written);
    } else writeFrame(stream, frame, written);
    if (this.#writeStallMs > 0) {
      this.#queuedTotal += length;
      // Armed when bytes wait in the stream, the OS not taking them (a turn's frames: once written).
      if (this.#flushTurn === null && this.#stallTimer === null && stream.writableLength > 0) this.#armStallTimer();
    }
    return true;
  }

  /** Bytes sent and not yet handed to the OS: the stream's, and this turn's not yet given to it. */
  #waiting(): number {
    return this.#stream.writableLength + this.#turnBytes;
  }

  /** Hands this turn's frames to the stream: copied into one buffer when small, else in one writev. */
  #flush(): void {
    this.#flushing = false;
    const turn = this.#turn;
    if (turn.length === 0) return;
    const stream = this.#stream;
    if (this.#closed || stream.destroyed || stream.writableEnded) {
      this.#dropTurn();
      return;
    }
    const bytes = this.#turnBytes;
    const callbacks = this.#turnWritten;
    this.#turnBytes = 0;
    this.#turnWritten = null;
    const written = callbacks === null ? undefined : (err: Error | null | undefined) => tell(callbacks, err);
    if (turn.length === 1 || bytes > COPY_TURN_BYTES) {
      writeFrame(stream, turn.length === 1 ? turn[0]! : turn.slice(), written);
    } else {
      const one = Buffer.allocUnsafe(bytes);
      let at = 0;
      for (let i = 0; i < turn.length; i++) {
        const piece = turn[i]!;
        one.set(piece, at); // what Buffer#copy does after its argument checks
        at += piece.length;
      }
      if (written === undefined) stream.write(one);
      else stream.write(one, written);
    }
    turn.length = 0;
    if (this.#writeStallMs > 0 && this.#stallTimer === null && stream.writableLength > 0) this.#armStallTimer();
  }

  /** This turn's frames are not written (the connection is gone): those that asked are told, later, as a stream tells its writes. */
  #dropTurn(): void {
    this.#turn.length = 0;
    this.#turnBytes = 0;
    const callbacks = this.#turnWritten;
    this.#turnWritten = null;
    if (callbacks !== null) process.nextTick(tell, callbacks, GONE);
  }

  #armStallTimer(): void {
    this.#flushedAtArm = this.#queuedTotal - this.#waiting();
    this.#stallTimer = setTimeout(FrameConnection.#checkStall, this.#writeStallMs, this);
    this.#stallTimer.unref();
  }

  #clearStallTimer(): void {
    if (this.#stallTimer !== null) clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
  }

  /** docs/protocol.md §7 `slow_consumer`: bytes waited a whole writeStallMs and none of them were sent. */
  static #checkStall(conn: FrameConnection): void {
    conn.#stallTimer = null;
    const waiting = conn.#waiting();
    if (conn.#closed || waiting === 0) return;
    if (conn.#queuedTotal - waiting > conn.#flushedAtArm) {
      conn.#armStallTimer(); // slow, but moving
      return;
    }
    conn.destroy();
    conn.#events.protocolError(
      new BesterError('slow_consumer', `${waiting} bytes waited ${conn.#writeStallMs} ms without being read`),
    );
  }

  /** Stops reading (e.g. while earlier messages are processed). */
  pause(): void {
    this.#hold(OWNER_HOLD, true);
  }

  resume(): void {
    if (!this.#closing) this.#hold(OWNER_HOLD, false);
  }

  /**
   * Reading stops when the first hold is taken and resumes when the last is let go. A closing
   * connection held only by its turn reads on, to see the peer's end (its bytes go nowhere).
   */
  #hold(who: number, on: boolean): void {
    const before = this.#holds;
    this.#holds = on ? before | who : before & ~who;
    if (this.#closed) return;
    if (on) {
      if (before === 0) this.#stream.pause();
    } else if (this.#holds === 0) this.#stream.resume();
  }

  /** Flushes what was sent, then closes; the stream is destroyed if the peer lingers. Idempotent. */
  close(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#decoder.stop();
    this.#flush(); // this turn's frames before the end
    this.#stream.end();
    const timer = setTimeout(destroyLingering, this.#closeTimeoutMs, this);
    timer.unref();
    this.#stream.once('close', () => clearTimeout(timer));
  }

  destroy(): void {
    this.#closing = true;
    this.#decoder.stop();
    this.#stream.destroy();
    this.#dropTurn();
  }

  /**
   * Hands the stream back to the owner, untouched from here on: this connection removes its
   * listeners and never reports again. Only when nothing of a frame was read (returns null
   * otherwise, and nothing changes). For docs/protocol.md §4.5.1: a connection opened for
   * multiplex/1 on which no greeting came carries an original call instead.
   */
  release(): Duplex | null {
    if (this.#closed || this.#closing || this.#decoder.midFrame) return null;
    this.#flush(); // handed back with everything sent on it written
    this.#closing = true;
    this.#closed = true;
    this.#clearStallTimer();
    this.#decoder.stop();
    const stream = this.#stream;
    stream.off('data', FrameConnection.#onData);
    stream.off('error', FrameConnection.#onError);
    stream.off('close', FrameConnection.#onClose);
    stream.off('end', FrameConnection.#onEnd);
    stream.off('drain', FrameConnection.#onDrain);
    (stream as Owned)[OWNER] = undefined;
    // Handed back reading as it was taken (a pending turn's end finds this connection closed).
    if ((this.#holds & TURN_HOLD) !== 0 && (this.#holds & OWNER_HOLD) === 0) stream.resume();
    return stream;
  }

  #finish(err: Error | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#clearStallTimer();
    this.#decoder.stop();
    this.#dropTurn();
    if (!this.#stream.destroyed) this.#stream.destroy();
    this.#events.closed(err);
  }
}

function tell(callbacks: ReadonlyArray<(err: Error | null | undefined) => void> | null, err: Error | null | undefined): void {
  if (callbacks !== null) for (const written of callbacks) written(err);
}

function destroyLingering(conn: FrameConnection): void {
  conn.destroy();
}
