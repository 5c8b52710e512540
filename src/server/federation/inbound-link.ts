// The receiving end of a peer link (docs/federation.md §3): a connection to one of our listeners
// whose first frame is a sealed hello. Every frame is checked (MAC, addressee, clock, nonce);
// messages are deduplicated by the peer's sequence numbers, processed one at a time in order,
// and acknowledged once processed. The first refused frame closes the link with a reason.
import { errorFrame } from '../../protocol/builders.ts';
import { isBesterError, type ErrorCode } from '../../protocol/errors.ts';
import { ACK, HELLO, open, PING, PONG, readPeerMessage, readSeal, ReplayCache, seal, WELCOME, type PeerMessage } from '../../protocol/federation.ts';
import { own, type JsonObject } from '../../protocol/json.ts';
import type { FederationConfig, PeerConfig } from '../config/types.ts';
import { describeThrown, type Logger } from '../log.ts';
import type { FederationOutbox } from '../storage/federation-outbox.ts';

/** Frames held while the welcome waits for the outbox. */
const MAX_EARLY_FRAMES = 64;

export interface InboundContext {
  readonly self: string;
  readonly config: FederationConfig;
  readonly store: FederationOutbox;
  readonly logger: Logger;
  /** One replay cache per peer, shared by all links from it (a frame replayed on a new connection is caught too). */
  replayCacheFor(peer: string): ReplayCache;
  /** Carries out a message from a peer (its handler, then the reply's command). Never rejects. */
  dispatch(message: PeerMessage, from: string): Promise<void>;
  /** Counts a refused or dropped frame (`reason` is the counter's name). */
  count(reason: string): void;
}

export interface LinkIo {
  send(value: unknown): void;
  close(): void;
}

export class InboundLink {
  readonly #ctx: InboundContext;
  readonly #io: LinkIo;
  #peer: (PeerConfig & { secret: string }) | null = null;
  #log: Logger;
  #queue: PeerMessage[] = [];
  #busy = false;
  #closed = false;
  /** Frames that came before our welcome was sent (it waits for the outbox): handled after it, in order. */
  #early: unknown[] | null = null;

  constructor(ctx: InboundContext, io: LinkIo, remote: string) {
    this.#ctx = ctx;
    this.#io = io;
    this.#log = ctx.logger.child({ remote });
  }

  /** The first frame (the hello). False if refused (the connection is being closed). */
  start(first: unknown): boolean {
    const claimed = readSeal(first);
    const peer = claimed ? this.#ctx.config.peers.get(claimed.from) : undefined;
    if (!claimed || !peer || peer.secret === null) {
      return this.#refuse('peer_auth_failed', claimed ? `unknown peer "${claimed.from}"` : 'server-scope frame without a federation seal', 'unknown_peer');
    }
    this.#peer = { ...peer, secret: peer.secret };
    this.#log = this.#log.child({ peer: peer.name });
    const opened = this.#open(first);
    if (!opened) return false;
    if (own(opened, 'type') !== HELLO) return this.#refuse('peer_auth_failed', 'the first frame of a link must be a hello', 'bad_hello');
    this.#early = [];
    this.#ctx.store.lastInbound(peer.name).then(
      (lastSeq) => {
        const early = this.#early ?? [];
        this.#early = null;
        if (this.#closed) return;
        this.#log.info({ lastSeq }, 'peer link accepted');
        this.#send({ type: WELCOME, lastSeq });
        for (const value of early) this.frame(value);
      },
      (err: unknown) => {
        this.#log.error({ err: describeThrown(err) }, 'could not read the last inbound seq');
        this.#refuse('store_error', 'the server cannot read its federation state; try again later', 'store');
      },
    );
    return true;
  }

  frame(value: unknown): void {
    if (this.#closed || !this.#peer) return;
    if (this.#early !== null) {
      // A peer waits for our welcome before sending messages (§3): a flood before it is refused, not buffered.
      if (this.#early.length >= MAX_EARLY_FRAMES) this.#refuse('invalid_message', 'too many frames before the welcome', 'early_frames');
      else this.#early.push(value);
      return;
    }
    const payload = this.#open(value);
    if (!payload) return;
    const type = own(payload, 'type');
    if (type === PING) {
      this.#send({ type: PONG });
      return;
    }
    if (type === PONG || type === HELLO) return;
    const message = readPeerMessage(payload);
    if (!message) {
      this.#refuse('invalid_message', 'malformed peer message', 'malformed');
      return;
    }
    this.#queue.push(message);
    this.#pump();
  }

  closed(): void {
    this.#closed = true;
    this.#queue.length = 0;
  }

  #pump(): void {
    if (this.#busy || this.#closed) return;
    const message = this.#queue.shift();
    if (!message) return;
    this.#busy = true;
    this.#process(message).then(
      () => {
        this.#busy = false;
        this.#pump();
      },
      (err: unknown) => {
        if (isBesterError(err) && err.code === 'shutting_down') this.#log.info({ seq: message.seq }, 'peer message left unacknowledged: shutting down');
        else this.#log.error({ err: describeThrown(err) }, 'peer message processing failed');
        this.#busy = false;
        this.#pump();
      },
    );
  }

  async #process(message: PeerMessage): Promise<void> {
    const peer = this.#peer!;
    const { store, config, self } = this.#ctx;
    // Exactly once from our side: a resent message we already processed is only acknowledged again.
    if (message.seq <= (await store.lastInbound(peer.name))) {
      this.#ctx.count('duplicate');
      this.#ack(message.seq, 'duplicate');
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
    }
    await store.recordInbound(peer.name, message.seq);
    this.#ack(message.seq, 'ok');
  }

  #ack(seq: number, status: string): void {
    this.#send({ type: ACK, seq, status });
  }

  #open(value: unknown): JsonObject | null {
    const peer = this.#peer!;
    const opened = open(value, {
      secret: peer.secret,
      self: this.#ctx.self,
      peer: peer.name,
      replay: this.#ctx.replayCacheFor(peer.name),
    });
    if (opened.ok) return opened.payload;
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
    this.#closed = true;
    this.#io.send(errorFrame(code, reason));
    this.#io.close();
    return false;
  }
}
