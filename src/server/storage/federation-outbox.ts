// The federation outbox contract (docs/federation.md §4): messages for each peer in sequence order
// until the peer acknowledges them, the last sequence number processed from each peer, and this
// server's node id. SQLite now (sqlite-federation-outbox.ts), memory (memory-federation-outbox.ts),
// Redis (../redis/federation-outbox.ts); every implementation passes test/contract/federation-outbox.contract.ts. No SQL, every
// call asynchronous, TTL and caps passed in by the caller.

export interface OutboxEntry {
  readonly peer: string;
  /** Given by the outbox at enqueue: 1, 2, 3... per peer, never reused (the link protocol's seq, §3.3). */
  readonly seq: number;
  readonly type: string;
  /** The message id as it travels (the sender's id, or origin:seq when it had none). */
  readonly msgId: string;
  /** The message's data, a JSON value (kept as JSON text by a durable backend). */
  readonly data: unknown;
  readonly origin: string;
  readonly hops: number;
  readonly sender: string | null;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export type NewOutboxEntry = Omit<OutboxEntry, 'seq' | 'createdAt' | 'expiresAt'>;

export interface EnqueueOptions {
  readonly now: number;
  readonly ttlMs: number;
  /** The most messages one peer may have waiting. */
  readonly cap: number;
}

/** What the receiver last processed from a peer (docs/federation.md §3.6). */
export interface InboundMark {
  readonly seq: number;
  /** The fingerprint of message `seq` (protocol/federation.ts payloadDigest); '' when unknown. */
  readonly digest: string;
}

/** The sender's side of its link to a peer (§3.6). */
export interface OutboundMark {
  /** The highest sequence number ever given to a message for the peer (0: none). */
  readonly top: number;
  /** The highest acknowledged seq recorded with its fingerprint, and that fingerprint ('' when none). */
  readonly acked: number;
  readonly digest: string;
}

export interface FederationOutbox {
  /** This server's node id: the one stored, or a new random one stored now (stable across restarts). */
  nodeId(): Promise<string>;
  /**
   * Appends a message for `entry.peer` with the next sequence number for that peer; durable (as the
   * backend is) when it resolves. Rejects with BesterError('peer_queue_full') when the peer already
   * has `options.cap` messages waiting.
   */
  enqueue(entry: NewOutboxEntry, options: EnqueueOptions): Promise<OutboxEntry>;
  /** At most `limit` messages for `peer` with seq > afterSeq, in seq order. */
  pending(peer: string, afterSeq: number, limit: number): Promise<OutboxEntry[]>;
  /**
   * The peer acknowledged `seq`: it leaves the outbox (nothing happens if it was gone). With a
   * `digest` (the message's fingerprint), `seq` also becomes the outbound mark's `acked`, unless a
   * higher seq was recorded.
   */
  acknowledge(peer: string, seq: number, digest?: string): Promise<void>;
  /** The outbound mark for `peer` (§3.6). */
  outboundMark(peer: string): Promise<OutboundMark>;
  /**
   * Moves every message waiting for `peer` past `after` (a seq the peer claims to have processed and
   * that this outbox cannot vouch for), keeping their order, so the peer processes them (§3.6).
   * `mark` becomes the acknowledged mark. Resolves with the new top seq. Atomic.
   */
  renumber(peer: string, after: number, mark: InboundMark): Promise<number>;
  /** Removes and returns messages whose expiresAt <= now (at most 1000 per call; each returned once). */
  takeExpired(now: number): Promise<OutboxEntry[]>;
  /** Messages waiting, per peer (peers with none are absent). */
  waiting(): Promise<Record<string, number>>;
  /** The highest sequence number processed from `peer` (0 if none). */
  lastInbound(peer: string): Promise<number>;
  /** The highest sequence number processed from `peer` with its fingerprint ({seq: 0, digest: ''} if none). */
  inboundMark(peer: string): Promise<InboundMark>;
  /** Records `seq` (with its fingerprint) as processed from `peer`; never lowers what was recorded. */
  recordInbound(peer: string, seq: number, digest?: string): Promise<void>;
  /** Idempotent. Any other call after close rejects with BesterError('store_error'). */
  close(): Promise<void>;
}

/** A new node id (when neither the config nor the outbox has one). */
export function newNodeId(random: () => string): string {
  return `node-${random()}`;
}
