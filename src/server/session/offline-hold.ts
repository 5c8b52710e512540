// §4.3.1: while the deliveries kept for a user are written at login, live deliveries to that
// connection wait here, behind them, and follow once the kept ones are out. Bounded like the
// connection's own outbound queue: past `maxBytes` the connection is a slow consumer.
import { frameLength, type OutFrame } from '../../protocol/frame.ts';

export class OfflineHold {
  readonly #frames: OutFrame[] = [];
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Keeps `frame` for later; false when that would pass `maxBytes` (nothing is kept then). */
  hold(frame: OutFrame): boolean {
    const length = frameLength(frame);
    if (this.#bytes + length > this.#maxBytes) return false;
    this.#bytes += length;
    this.#frames.push(frame);
    return true;
  }

  /** Hands every frame held, in order, to `send`; stops at the first it refuses (the connection closed). */
  release(send: (frame: OutFrame) => boolean): void {
    for (const frame of this.#frames.splice(0)) if (!send(frame)) break;
    this.#bytes = 0;
  }
}
