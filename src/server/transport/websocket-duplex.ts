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
const OPEN = 1; // WebSocket.OPEN, without importing the module's value here
const CLOSED = 3;

export class WebSocketDuplex extends Duplex implements FrameSink {
  readonly webSocket: WebSocket;
  /** The TCP (or TLS) socket under the WebSocket, when known: corked around a batch of messages (one syscall). */
  readonly #socket: net.Socket | null;
  /** Splits writes that are not exactly one frame; made on first need (FrameConnection writes whole frames). */
  #splitter: FrameDecoder | null = null;
  /** Frames the splitter found in the write being handled. */
  readonly #split: Buffer[] = [];
  #paused = false;
  /** Liveness (ws-listener.ts): something came from the peer since the last look. */
  heard = true;
  /** Liveness: pings sent in a row without a pong or a message. */
  missedPings = 0;

  constructor(webSocket: WebSocket, socket: net.Socket | null = null) {
    // Frames are written whole and counted in bytes; the readable side is ended by the WebSocket's close.
    super({ allowHalfOpen: true, decodeStrings: true });
    this.webSocket = webSocket;
    this.#socket = socket;
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
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32LE(body.length, 0);
    this.push(header);
    if (!this.push(body) && !this.#paused) {
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
    this.#sendChunk(chunk, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    const socket = this.#socket;
    socket?.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) this.#sendChunk(chunks[i]!.chunk, null);
    this.#sendChunk(chunks[last]!.chunk, callback);
    socket?.uncork();
  }

  /**
   * Sends the frames in `chunk`, one text message each. `callback` waits until the WebSocket handed
   * the last one to the OS: meanwhile the bytes count in writableLength, so the session's
   * slow-consumer rules (limits.maxOutboundBytes, writeStallMs) see what the peer has not read.
   */
  #sendChunk(chunk: Buffer, callback: ((err?: Error | null) => void) | null): void {
    if (this.webSocket.readyState !== OPEN) {
      callback?.(new Error('the WebSocket is closed'));
      return;
    }
    if (this.#splitter === null || !this.#splitter.midFrame) {
      // The usual case: the chunk is exactly one frame.
      if (chunk.length > FRAME_HEADER_BYTES && chunk.readUInt32LE(0) === chunk.length - FRAME_HEADER_BYTES) {
        this.#send(chunk.subarray(FRAME_HEADER_BYTES), callback);
        return;
      }
    }
    this.#splitter ??= new FrameDecoder(this, MAX_FRAME_LENGTH);
    this.#splitter.push(chunk);
    const split = this.#split.splice(0);
    if (this.#splitter.stopped) {
      callback?.(new Error('what was written to a WebSocket stream is not length-prefixed frames'));
      return;
    }
    const last = split.length - 1;
    for (let i = 0; i < last; i++) this.#send(split[i]!, null);
    // A partial frame waits in the splitter for the rest: nothing to wait for on the socket then.
    if (last >= 0) this.#send(split[last]!, callback);
    else callback?.();
  }

  #send(body: Buffer, callback: ((err?: Error | null) => void) | null): void {
    if (callback === null) this.webSocket.send(body, TEXT);
    else this.webSocket.send(body, TEXT, callback);
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
