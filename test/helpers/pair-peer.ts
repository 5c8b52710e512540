// The client's end of an in-memory duplex pair whose other end a Session serves (component tests:
// no sockets). It writes frames and keeps every frame read.
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import type { PeerInfo } from '../../src/server/transport/listener.ts';

/** An in-memory duplex pair's peer, as a listener would describe it. */
export const PAIR_PEER: PeerInfo = { transport: 'pair', remoteAddress: null, remotePort: null, remote: 'pair', secure: false };

export type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

export class PairPeer {
  readonly frames: Frame[] = [];
  ended = false;
  readonly #stream: Duplex;

  constructor(stream: Duplex) {
    this.#stream = stream;
    const decoder = new FrameDecoder({ frame: (b) => this.frames.push(parseFrameJson(b) as Frame), error: () => undefined }, 1 << 24);
    stream.on('data', (c: Buffer) => decoder.push(c));
    stream.on('end', () => (this.ended = true));
    stream.on('close', () => (this.ended = true));
  }

  send(v: unknown): void {
    this.#stream.write(encodeFrame(v));
  }

  /** Waits until `check` holds (polled every 5 ms); fails with the frames read after `timeoutMs`. */
  async waitUntil(check: () => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(check(), `not within ${timeoutMs} ms: ${JSON.stringify(this.frames)}`);
  }

  /** Waits for `n` frames; returns all read so far. */
  async waitFor(n: number, timeoutMs = 3000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(this.frames.length >= n, `expected ${n} frames, got ${this.frames.length}`);
    return this.frames;
  }

  /** Whether the stream ended within `timeoutMs`. */
  async waitEnded(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return this.ended;
  }
}
