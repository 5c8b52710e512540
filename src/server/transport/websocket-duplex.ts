// A WebSocket as the byte stream the rest of Bester reads (docs/protocol.md §1.5): the session layer
// and every client frame with a 4-byte length prefix, a WebSocket carries one Bester message per
// WebSocket message instead, and the WebSocket framing says how long it is. So this Duplex adds
// the prefix to each message it receives, and takes it off what is written, sending each frame as
// one text message. Everything above it (FrameConnection, the session: login deadline, limits,
// slow-consumer rules) works unchanged. Used by the ws/wss listeners, and by test and bench clients.
import type net from 'node:net';
import { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import type { BesterError } from '../../protocol/errors.ts';
import { FRAME_HEADER_BYTES, FrameDecoder, MAX_FRAME_LENGTH, type FrameSink } from '../../protocol/frame.ts';

const TEXT = Object.freeze({ binary: false });
/** Received messages up to this size are copied behind their prefix (one chunk); larger ones are not copied. */
const ONE_CHUNK_BYTES = 4096;
const OPEN = 1; // WebSocket.OPEN, without importing the module's value here
const CLOSED = 3;

export class WebSocketDuplex extends Duplex implements FrameSink {
  readonly webSocket: WebSocket;
  /** The TCP (or TLS) socket under the WebSocket, when known: corked around a batch of messages (one syscall). */
  readonly #socket: net.Socket | null;
  readonly #serverFrames: boolean;
  /** Splits writes that are not exactly one frame; made on first need (FrameConnection writes whole frames). */
  #splitter: FrameDecoder | null = null;
  /** Frames the splitter found in the write being handled. */
  readonly #split: Buffer[] = [];
  #paused = false;
  /** Liveness (ws-listener.ts): something came from the peer since the last look. */
  heard = true;
  /** Liveness: pings sent in a row without a pong or a message. */
  missedPings = 0;

  /**
   * `socket`: the socket under the WebSocket, when known. `serverFrames`: this is the server's end
   * (with `socket` given): data frames are written to the socket directly (writeTextFrames).
   */
  constructor(webSocket: WebSocket, socket: net.Socket | null = null, options: { serverFrames?: boolean } = {}) {
    // Frames are written whole and counted in bytes; the readable side is ended by the WebSocket's close.
    super({ allowHalfOpen: true, decodeStrings: true });
    this.webSocket = webSocket;
    this.#socket = socket;
    this.#serverFrames = options.serverFrames === true;
    webSocket.on('message', this.#onMessage);
    webSocket.on('pong', this.#onPong);
    webSocket.on('error', this.#onError);
    webSocket.on('close', this.#onClose);
  }

  readonly #onMessage = (data: RawData): void => {
    this.heard = true;
    // binaryType is 'nodebuffer' (the default): one Buffer per message, text or binary.
    const body = Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
    // The prefix the WebSocket framing replaced: the frame decoder above checks it against the
    // limits (frame_too_large, docs/protocol.md §1.2) before anything of the body is used.
    // One chunk, prefix and body, when the body is small: one push and one 'data' event instead of two.
    let fits: boolean;
    if (body.length <= ONE_CHUNK_BYTES) {
      const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
      frame.writeUInt32LE(body.length, 0);
      body.copy(frame, FRAME_HEADER_BYTES);
      fits = this.push(frame);
    } else {
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      header.writeUInt32LE(body.length, 0);
      this.push(header);
      fits = this.push(body);
    }
    if (!fits && !this.#paused) {
      this.#paused = true;
      this.webSocket.pause();
    }
  };

  readonly #onPong = (): void => {
    this.heard = true;
  };

  readonly #onError = (err: Error): void => {
    this.destroy(err);
  };

  readonly #onClose = (): void => {
    this.push(null);
    if (!this.destroyed) this.destroy();
  };

  override _read(): void {
    if (this.#paused) {
      this.#paused = false;
      this.webSocket.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#sendBodies(this.#bodiesOf(chunk, []), callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    const bodies: Buffer[] = [];
    for (const { chunk } of chunks) this.#bodiesOf(chunk, bodies);
    this.#sendBodies(bodies, callback);
  }

  /** Appends to `into` the bodies of the frames in `chunk` (the usual case: exactly one frame). */
  #bodiesOf(chunk: Buffer, into: Buffer[]): Buffer[] {
    if (this.#splitter === null || !this.#splitter.midFrame) {
      if (chunk.length > FRAME_HEADER_BYTES && chunk.readUInt32LE(0) === chunk.length - FRAME_HEADER_BYTES) {
        into.push(chunk.subarray(FRAME_HEADER_BYTES));
        return into;
      }
    }
    // Not one whole frame: split it (a part of a frame waits in the splitter for the rest).
    this.#splitter ??= new FrameDecoder(this, MAX_FRAME_LENGTH);
    this.#splitter.push(chunk);
    for (const body of this.#split.splice(0)) into.push(body);
    return into;
  }

  /**
   * Sends each body as one text message. `callback` waits until the last was handed to the OS:
   * meanwhile the bytes count in writableLength, so the session's slow-consumer rules
   * (limits.maxOutboundBytes, writeStallMs) see what the peer has not read.
   */
  #sendBodies(bodies: Buffer[], callback: (err?: Error | null) => void): void {
    if (this.#splitter?.stopped === true) {
      callback(new Error('what was written to a WebSocket stream is not length-prefixed frames'));
      return;
    }
    if (this.webSocket.readyState !== OPEN) {
      callback(new Error('the WebSocket is closed'));
      return;
    }
    const last = bodies.length - 1;
    if (last < 0) {
      callback();
      return;
    }
    const socket = this.#socket;
    if (socket !== null && this.#serverFrames) {
      writeTextFrames(socket, bodies, callback);
      return;
    }
    socket?.cork();
    for (let i = 0; i < last; i++) this.webSocket.send(bodies[i]!, TEXT);
    this.webSocket.send(bodies[last]!, TEXT, callback);
    socket?.uncork();
  }

  /** FrameSink: a frame split out of a write that was not exactly one frame. Not for callers. */
  frame(body: Buffer): void {
    this.#split.push(Buffer.from(body)); // a view into the written chunk, which may be reused once written
  }

  /** FrameSink: what was written is not frames (a zero length); the stream is unusable. Not for callers. */
  error(err: BesterError): void {
    this.destroy(err);
  }

  override _final(callback: (err?: Error | null) => void): void {
    // RFC 6455 has no half-close: the close frame ends both directions once the peer answers it.
    if (this.webSocket.readyState === OPEN) this.webSocket.close(1000);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.webSocket.off('message', this.#onMessage);
    if (this.webSocket.readyState !== CLOSED) this.webSocket.terminate();
    callback(err);
  }
}

/**
 * Writes `bodies` as unfragmented text frames (RFC 6455 §5.2: FIN, opcode 1, no mask: a server's
 * frames are never masked) straight to the socket under a server's WebSocket, in one write when
 * they are small. It is what ws.send does, less its per-message work (an options object, a header
 * buffer and two socket writes per message): the daemon sends two frames per relayed message, and
 * this was a measurable part of a WebSocket session's cost (docs/performance.md). Safe beside
 * ws's own writes (ping, pong, close) because with perMessageDeflate off ws writes synchronously,
 * never queueing: the order on the socket is the order of the calls. Only while the WebSocket is
 * OPEN (the caller checks): no data frame may follow a close frame.
 */
export function writeTextFrames(socket: net.Socket, bodies: readonly Buffer[], callback: (err?: Error | null) => void): void {
  let total = 0;
  for (const body of bodies) total += headerBytes(body.length) + body.length;
  if (total <= COPY_LIMIT) {
    const out = Buffer.allocUnsafe(total);
    let offset = 0;
    for (const body of bodies) {
      offset = writeHeader(out, offset, body.length);
      offset += body.copy(out, offset);
    }
    socket.write(out, callback);
    return;
  }
  socket.cork();
  const last = bodies.length - 1;
  bodies.forEach((body, i) => {
    const header = Buffer.allocUnsafe(headerBytes(body.length));
    writeHeader(header, 0, body.length);
    socket.write(header);
    if (i === last) socket.write(body, callback);
    else socket.write(body);
  });
  socket.uncork();
}

/** Frames whose bytes together stay under this are copied into one buffer (one write); larger ones are written as they are. */
const COPY_LIMIT = 64 * 1024;

function headerBytes(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/** RFC 6455 §5.2 header of a final, unmasked text frame of `length` bytes at `offset`; returns the offset after it. */
function writeHeader(buffer: Buffer, offset: number, length: number): number {
  buffer[offset] = 0x81;
  if (length < 126) {
    buffer[offset + 1] = length;
    return offset + 2;
  }
  if (length < 65_536) {
    buffer[offset + 1] = 126;
    buffer.writeUInt16BE(length, offset + 2);
    return offset + 4;
  }
  buffer[offset + 1] = 127;
  buffer.writeUInt32BE(Math.floor(length / 0x1_0000_0000), offset + 2);
  buffer.writeUInt32BE(length >>> 0, offset + 6);
  return offset + 10;
}
