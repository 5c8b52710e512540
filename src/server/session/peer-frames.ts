// The frames of a peer link, after its hello (docs/federation.md §3.3), read for the session that
// was taken over by the link. A peer's message data is only passed on: a big one is checked as
// JSON bytes, neither built nor decoded (parseFrameText's `lazy`). Reading a big frame (its decode, that check,
// the MAC) still takes the event loop for milliseconds, so it does not run in the socket's read
// callback: it waits for the end of the loop's turn (setImmediate), one big frame a turn, and the
// local clients' reads of that turn go first (their latency under a flood of big frames, §9).
// Reading from the connection stops while one waits, and while the link says so (its window and
// byte budget, §3.3): what waits here is never more than what was read in one turn.
import type { BesterError } from '../../protocol/errors.ts';
import { LAZY_MIN_BYTES, parseFrameText, withoutBom, type ParseFrameOptions } from '../../protocol/frame.ts';
import type { PeerLinkSink } from './first-frame.ts';

/** A peer link frame's message data: left as bytes when big. */
const PEER_DATA = Object.freeze([Object.freeze(['payload', 'data'])]);

/** Frames from this size on are read at the end of the loop's turn, one a turn. */
export const DEFERRED_FRAME_BYTES = LAZY_MIN_BYTES;

/** Stops and restarts reading from the connection. */
export interface ReadControl {
  pause(): void;
  resume(): void;
}

const LINK = 1;
const BACKLOG = 2;

export class PeerFrames {
  /** Where frames go: the link, once its hello was accepted. */
  sink: PeerLinkSink | null = null;
  /** The link's own pause and resume (§3.3), combined with the backlog's: reading resumes when neither holds it. */
  readonly link: ReadControl = { pause: () => this.#hold(LINK, true), resume: () => this.#hold(LINK, false) };
  readonly #read: ReadControl;
  /** Who holds reading paused: LINK, BACKLOG, both or none. */
  #holds = 0;
  readonly #options: () => ParseFrameOptions;
  readonly #fail: (err: BesterError) => void;
  /** Frames waiting for their turn, oldest first: the frames behind a big one wait too (order is kept). */
  #backlog: Buffer[] = [];
  #scheduled = false;
  #stopped = false;

  /** `read`: the connection's. `maxDepth`: read at each frame (a reload may change it). `fail`: a frame that is not JSON; reading stops. */
  constructor(read: ReadControl, maxDepth: () => number, fail: (err: BesterError) => void) {
    this.#read = read;
    this.#options = () => ({ maxDepth: maxDepth(), lazy: PEER_DATA });
    this.#fail = fail;
  }

  /** One frame body as the connection read it (a view into a received chunk, which streams do not reuse). */
  push(body: Buffer): void {
    if (this.#stopped) return;
    if (this.#backlog.length === 0 && body.length < DEFERRED_FRAME_BYTES) {
      this.#take(body);
      return;
    }
    this.#backlog.push(body);
    this.#hold(BACKLOG, true);
    this.#schedule();
  }

  /** The link is gone: frames still waiting are dropped (unacknowledged, the peer sends them again). */
  stop(): void {
    this.#stopped = true;
    this.#backlog = [];
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(PeerFrames.#drain, this);
  }

  /** One big frame, and the small ones behind it up to the next big one. */
  static #drain(self: PeerFrames): void {
    self.#scheduled = false;
    for (let first = true; !self.#stopped && self.#backlog.length > 0; first = false) {
      const body = self.#backlog[0]!;
      if (!first && body.length >= DEFERRED_FRAME_BYTES) {
        self.#schedule();
        return;
      }
      self.#backlog.shift();
      self.#take(body);
    }
    if (self.#backlog.length === 0) self.#hold(BACKLOG, false);
  }

  #hold(who: number, on: boolean): void {
    const before = this.#holds !== 0;
    this.#holds = on ? this.#holds | who : this.#holds & ~who;
    const after = this.#holds !== 0;
    if (after && !before) this.#read.pause();
    else if (before && !after) this.#read.resume();
  }

  #take(body: Buffer): void {
    let frame;
    try {
      frame = parseFrameText(body, this.#options());
    } catch (err) {
      this.stop();
      this.#fail(err as BesterError);
      return;
    }
    // The link reads its payload's data, the MAC and the fingerprint from the frame's bytes (§3.3).
    this.sink?.frame(frame.shallowValue, withoutBom(body));
  }
}
