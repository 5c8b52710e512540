// The receiving end of a peer link (docs/federation.md §3): a connection to one of our listeners
// whose first frame is a sealed hello. Every frame is checked (MAC, addressee, clock, nonce);
// messages are deduplicated by the peer's sequence numbers, processed one at a time in order,
// and acknowledged once processed. The first refused frame closes the link with a reason.
// Backpressure (§3.3): the link stops reading while its window of unacknowledged messages is full or
// its queued messages hold INBOUND_BUFFER_BYTES or more; a peer that sends past the window it was
// told is cut off. A message waits as the frame's bytes: its data reaches the handler as those bytes,
// never decoded or serialised again, and its parsed copy is not kept. All links from one peer process through one lane (§3.7): a new link is welcomed
// only once the message in progress on the link it replaces is settled.
import { errorFrame } from '../../protocol/builders.ts';
import { isBesterError, type ErrorCode } from '../../protocol/errors.ts';
import { Fifo } from '../../protocol/fifo.ts';
import {
  ACK, HELLO, open, payloadDigestAsync, PING, PONG, readPeerMessage, readSeal, ReplayCache, seal, senderProblem, WELCOME,
  type AckStatus, type PeerMessage,
} from '../../protocol/federation.ts';
import { own, type JsonObject } from '../../protocol/json.ts';
import type { JsonSource } from '../../protocol/json-text.ts';
import type { FederationConfig, PeerConfig } from '../config/types.ts';
import { describeThrown, type Logger } from '../log.ts';
import type { FederationOutbox } from '../storage/federation-outbox.ts';

/** Frames held while the welcome waits (for the outbox, or for the link this one replaces); their bytes: INBOUND_BUFFER_BYTES. */
const MAX_EARLY_FRAMES = 64;
/**
 * Bytes of queued messages (their JSON) from which a link stops reading (§3.3). Small on
 * purpose: a message waits for its turn as bytes, and a big one ahead is enough to keep the handler
 * busy; every megabyte held across turns is promoted out of V8's young generation and stays until a
 * full collection (the RSS of a flood of big frames, docs/federation.md §9).
 */
export const INBOUND_BUFFER_BYTES = 256 * 1024;

export interface InboundContext {
  readonly self: string;
  readonly config: FederationConfig;
  readonly store: FederationOutbox;
  readonly logger: Logger;
  /** What the welcome states (§3.1): the largest link frame and deepest JSON this server reads. */
  readonly maxFrameBytes: number;
  readonly maxJsonDepth: number;
  /** One replay cache per peer, shared by all links from it (a frame replayed on a new connection is caught too). */
  replayCacheFor(peer: string): ReplayCache;
  /** Carries out a message from a peer (its handler, then the reply's command). Never rejects. */
  dispatch(message: PeerMessage, from: string): Promise<void>;
  /** Counts a refused or dropped frame (`reason` is the counter's name). */
  count(reason: string): void;
  /** This link is now `peer`'s active one: the one before it (if any) is retired (§3.7). */
  activate(peer: string, link: InboundLink): void;
  /** Runs `step` after every step queued before it for `peer`: one message of a peer at a time, on any link. */
  lane<T>(peer: string, step: () => Promise<T>): Promise<T>;
}

export interface LinkIo {
  send(value: unknown): void;
  close(): void;
  /** Stops and restarts reading the connection (backpressure, §3.3). */
  pause(): void;
  resume(): void;
}

interface Queued {
  readonly message: PeerMessage;
  /** The payload's JSON bytes (a view of the frame's, which the message's data shares), or its text. */
  readonly text: JsonSource;
  /** Its fingerprint (§3.6) when taken from the frame's bytes; else taken from `text` when it is processed. */
  readonly digest: string | undefined;
}

/** A frame as the connection read it: the parsed value and the bytes (or text) it was parsed from. */
interface ReadFrame {
  readonly value: unknown;
  readonly source: JsonSource | undefined;
}

export class InboundLink {
  readonly #ctx: InboundContext;
  readonly #io: LinkIo;
  #peer: (PeerConfig & { secret: string }) | null = null;
  #log: Logger;
  /** A Fifo, not an array: a message pushed and taken at once would regrow an array's store each time. */
  readonly #queue = new Fifo<Queued>();
  #queuedBytes = 0;
  #busy = false;
  #closed = false;
  #paused = false;
  /** While paused, pongs keep the sender's heartbeat satisfied (it cannot be read: §3.4). */
  #keepAlive: NodeJS.Timeout | null = null;
  /** Frames that came before our welcome was sent: handled after it, in order. */
  #early: ReadFrame[] | null = null;
  #earlyBytes = 0;
  /** The most messages and bytes ever queued at once (serverInfo, tests). */
  highWater = { messages: 0, bytes: 0 };

  constructor(ctx: InboundContext, io: LinkIo, remote: string) {
    this.#ctx = ctx;
    this.#io = io;
    this.#log = ctx.logger.child({ remote });
  }

  get peer(): string | null {
    return this.#peer?.name ?? null;
  }

  /** The window this link told its peer: messages it reads before acknowledging. */
  get window(): number {
    return this.#ctx.config.maxInFlight;
  }

  /** The first frame (the hello). False if refused (the connection is being closed). */
  start(first: unknown, text?: string): boolean {
    const claimed = readSeal(first);
    const peer = claimed ? this.#ctx.config.peers.get(claimed.from) : undefined;
    if (!claimed || !peer || peer.secret === null) {
      return this.#refuse('peer_auth_failed', claimed ? `unknown peer "${claimed.from}"` : 'server-scope frame without a federation seal', 'unknown_peer');
    }
    this.#peer = { ...peer, secret: peer.secret };
    this.#log = this.#log.child({ peer: peer.name });
    const opened = this.#open(first, text);
    if (!opened) return false;
    if (own(opened.payload, 'type') !== HELLO) return this.#refuse('peer_auth_failed', 'the first frame of a link must be a hello', 'bad_hello');
    this.#early = [];
    this.#startKeepAlive(); // the welcome may wait for a replaced link's message: the sender hears pongs meanwhile
    this.#ctx.activate(peer.name, this);
    // §3.7: in the peer's lane, so the mark is read after the replaced link's message was settled.
    this.#ctx.lane(peer.name, () => this.#ctx.store.inboundMark(peer.name)).then(
      (mark) => {
        const early = this.#early ?? [];
        this.#early = null;
        if (this.#closed) return;
        this.#stopKeepAlive();
        this.#log.info({ lastSeq: mark.seq }, 'peer link accepted');
        const { maxFrameBytes, maxJsonDepth } = this.#ctx;
        this.#send({ type: WELCOME, lastSeq: mark.seq, digest: mark.digest, window: this.window, maxFrameBytes, maxJsonDepth });
        for (const f of early) this.frame(f.value, f.source);
      },
      (err: unknown) => {
        this.#log.error({ err: describeThrown(err) }, 'could not read the last inbound seq');
        this.#refuse('store_error', 'the server cannot read its federation state; try again later', 'store');
      },
    );
    return true;
  }

  /**
   * One frame after the hello; `source` the frame's own bytes (or the JSON text it was parsed from):
   * its payload's are used as they are, not serialised again (the MAC and fingerprint read them).
   */
  frame(value: unknown, source?: JsonSource): void {
    if (this.#closed || !this.#peer) return;
    if (this.#early !== null) {
      // A peer waits for our welcome before sending messages (§3.1): a flood before it is refused, not buffered.
      this.#earlyBytes += source?.length ?? 0;
      if (this.#early.length >= MAX_EARLY_FRAMES || this.#earlyBytes > INBOUND_BUFFER_BYTES) this.#refuse('invalid_message', 'too many frames before the welcome', 'early_frames');
      else this.#early.push({ value, source });
      return;
    }
    const opened = this.#open(value, source);
    if (opened) this.#onPayload(opened.payload, opened.text, opened.digest);
  }

  /** The connection is gone: nothing more is processed (the message in progress is settled in its lane). */
  closed(): void {
    this.#closed = true;
    this.#queue.clear();
    this.#queuedBytes = 0;
    this.#stopKeepAlive();
  }

  /** Another link from the same peer took over (§3.7): this one stops and closes. */
  retire(): void {
    if (this.#closed) return;
    this.#log.info('peer link replaced by a new link from the same peer');
    this.#ctx.count('replaced');
    this.closed();
    this.#io.close();
  }

  #onPayload(payload: JsonObject, text: JsonSource, digest: string | undefined): void {
    const type = own(payload, 'type');
    if (type === PING) {
      this.#send({ type: PONG });
      return;
    }
    if (type === PONG || type === HELLO) return;
    const message = readPeerMessage(payload, text);
    if (!message) {
      this.#refuse('invalid_message', 'malformed peer message', 'malformed');
      return;
    }
    // §3.3: the peer was told the window in our welcome; more unacknowledged messages is a broken or hostile peer.
    const unacknowledged = this.#queue.length + (this.#busy ? 1 : 0);
    if (unacknowledged >= this.window) {
      this.#refuse('invalid_message', `more than ${this.window} unacknowledged messages: the peer ignores the window it was told`, 'window');
      return;
    }
    this.#queue.push({ message, text, digest });
    this.#queuedBytes += text.length;
    this.highWater = {
      messages: Math.max(this.highWater.messages, this.#queue.length),
      bytes: Math.max(this.highWater.bytes, this.#queuedBytes),
    };
    this.#flow();
    this.#pump();
  }

  /** Pauses reading while the window or the byte budget is full; resumes once there is room (§3.3). */
  #flow(): void {
    const full = this.#queue.length + (this.#busy ? 1 : 0) >= this.window || this.#queuedBytes >= INBOUND_BUFFER_BYTES;
    if (full && !this.#paused && !this.#closed) {
      this.#paused = true;
      this.#io.pause();
      this.#startKeepAlive();
    } else if (!full && this.#paused) {
      this.#paused = false;
      this.#stopKeepAlive();
      if (!this.#closed) this.#io.resume();
    }
  }

  /** Unsolicited pongs while the peer's pings cannot be read (paused, or before the welcome). */
  #startKeepAlive(): void {
    if (this.#keepAlive !== null) return;
    const every = Math.max(100, Math.floor(this.#ctx.config.heartbeatMs / 2));
    this.#keepAlive = setInterval(() => this.#send({ type: PONG }), every);
    this.#keepAlive.unref();
  }

  #stopKeepAlive(): void {
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    this.#keepAlive = null;
  }

  #pump(): void {
    if (this.#busy || this.#closed) return;
    const next = this.#queue.shift();
    if (!next) return;
    this.#busy = true;
    const peer = this.#peer!.name;
    const done = (): void => {
      this.#busy = false;
      this.#queuedBytes -= next.text.length;
      this.#flow();
      this.#pump();
    };
    this.#ctx.lane(peer, () => this.#process(next)).then(done, (err: unknown) => {
      if (isBesterError(err) && err.code === 'shutting_down') this.#log.info({ seq: next.message.seq }, 'peer message left unacknowledged: shutting down');
      else this.#log.error({ err: describeThrown(err) }, 'peer message processing failed');
      done();
    });
  }

  async #process({ message, text, digest: known }: Queued): Promise<void> {
    const peer = this.#peer!;
    const { store, config, self } = this.#ctx;
    // Exactly once from our side: a resent message we already processed is only acknowledged again.
    if (message.seq <= (await store.lastInbound(peer.name))) {
      this.#ctx.count('duplicate');
      this.#ack(message.seq, 'duplicate');
      return;
    }
    // §3.6: from the frame's bytes when it was read; else here, a big one off the event loop.
    const digest = known ?? (await payloadDigestAsync(text));
    const problem = senderProblem(message.sender);
    if (problem !== null) {
      // §3.2: refused, not processed; the sender's server hears why and tells its user.
      this.#ctx.count('bad_sender');
      this.#log.warn({ seq: message.seq, id: message.id, reason: problem }, 'refused a peer message');
      await store.recordInbound(peer.name, message.seq, digest);
      this.#ack(message.seq, 'refused', problem);
      return;
    }
    if (message.origin === self) {
      this.#ctx.count('own_echo');
      this.#log.warn({ seq: message.seq, id: message.id }, 'dropped a message that started here (a federation loop)');
    } else if (message.hops > config.maxHops) {
      this.#ctx.count('hop_limit');
      this.#log.warn({ seq: message.seq, hops: message.hops, origin: message.origin }, 'dropped a message over the hop limit');
    } else {
      await this.#ctx.dispatch(message, peer.name);
      // §4: deliveries are written in a setImmediate (coalesced); the seq is recorded, and the ack
      // sent, only after they were handed to the operating system: an ack vouches for a delivery.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await store.recordInbound(peer.name, message.seq, digest);
    this.#ack(message.seq, 'ok');
  }

  #ack(seq: number, status: AckStatus, reason?: string): void {
    if (this.#closed) return; // the link that replaces this one states the seq in its welcome
    this.#send(reason === undefined ? { type: ACK, seq, status } : { type: ACK, seq, status, reason });
  }

  #open(value: unknown, source: JsonSource | undefined): { payload: JsonObject; text: JsonSource; digest: string | undefined } | null {
    const peer = this.#peer!;
    const replay = this.#ctx.replayCacheFor(peer.name);
    const opened = open(value, { secret: peer.secret, self: this.#ctx.self, peer: peer.name, replay }, source);
    if (opened.ok) return { payload: opened.payload, text: opened.text, digest: opened.digest };
    this.#refuse(opened.code, opened.reason, opened.code === 'peer_replay' ? 'replay' : 'auth');
    return null;
  }

  #send(payload: JsonObject): void {
    const peer = this.#peer!;
    this.#io.send(seal(peer.secret, this.#ctx.self, peer.name, payload));
  }

  #refuse(code: ErrorCode, reason: string, counter: string): false {
    this.#ctx.count(counter);
    this.#log.warn({ code, reason }, 'peer frame refused');
    this.closed();
    this.#io.send(errorFrame(code, reason));
    this.#io.close();
    return false;
  }
}
