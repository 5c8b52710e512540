// The key layout (docs/scaling.md "Key layout"). Every key starts with the configured prefix, and
// the keys one script touches share a hash tag ({...}), so each multi-key operation stays in one
// slot of a Redis Cluster. Names taken from users (usernames, node names, peers) are only ever
// the last part of a key, after the hash tag, so they cannot move a key to another slot.
export class RedisKeys {
  readonly #p: string;

  constructor(prefix: string) {
    this.#p = prefix;
  }

  /** The data set's id (client.ts DataSetMarker). */
  marker(): string {
    return `${this.#p}{meta}:dataset`;
  }

  /** Hash: normalized username -> JSON {hash, createdAt, updatedAt} (scrypt hash, never a password). */
  accounts(): string {
    return `${this.#p}{accounts}:users`;
  }

  /** The offline queue's keys, all in one slot. */
  offline(part: 'seq' | 'entries' | 'expiry' | 'bytes'): string {
    return `${this.#p}{offline}:${part}`;
  }

  /** Sorted set of one user's kept entry ids (score: the id). */
  offlineUser(user: string): string {
    return `${this.#p}{offline}:user:${user}`;
  }

  /** The federation outbox's keys, all in one slot. */
  outbox(part: 'node' | 'expiry' | 'waiting' | 'inbound' | 'inboundDigest' | 'acked'): string {
    return `${this.#p}{outbox}:${part}`;
  }

  /**
   * Per peer: 'seq' (the last seq given), 'entries' (hash seq -> JSON), 'seqs' (sorted set of the
   * seqs waiting), 'lease' (the node sending to it: owner:token, with an expiry) and 'leaseToken'
   * (the last fencing token given).
   */
  outboxPeer(peer: string, part: 'seq' | 'entries' | 'seqs' | 'lease' | 'leaseToken'): string {
    return `${this.#p}{outbox}:peer:${part}:${peer}`;
  }

  /** Pub/sub channel on which a node announces a message queued for a peer (payload: the peer). */
  outboxAnnounce(): string {
    return `${this.#p}outbox-announce`;
  }

  /**
   * Presence's keys, all in one slot: 'nodes' (zset node -> heartbeat deadline), 'users' (set),
   * 'count', 'dead' (set of nodes expired whose delivery streams are still to re-route).
   */
  presence(part: 'nodes' | 'users' | 'count' | 'dead'): string {
    return `${this.#p}{presence}:${part}`;
  }

  /** Set of one node's sessions (members: JSON [user, sessionId]). */
  presenceNode(node: string): string {
    return `${this.#p}{presence}:node:${node}`;
  }

  /** Hash of one user's sessions per node (node -> count). */
  presenceUser(user: string): string {
    return `${this.#p}{presence}:user:${user}`;
  }

  /** The failed-login throttle's keys for one address or username, in one slot: failure times (zset), block (expiring string). */
  throttle(kind: 'address' | 'user', part: 'failures' | 'blocked', name: string): string {
    return `${this.#p}{throttle}:${kind === 'address' ? 'a' : 'u'}:${part}:${name}`;
  }

  /**
   * One node's delivery stream, its live subscribers (zset group -> heartbeat deadline) and the
   * lock of whoever re-routes the stream of that node once dead (node-takeover.ts), in the node's slot.
   */
  bus(node: string, part: 'stream' | 'subscribers' | 'takeover'): string {
    return `${this.#p}{bus:${node}}:${part}`;
  }

  /** Pub/sub channel on which a node says it kept deliveries for some users (presence/kept-notice.ts). */
  keptNotice(): string {
    return `${this.#p}kept-notice`;
  }

  /** Pub/sub channel where subscribers acknowledge deliveries to one publishing bus instance. */
  busReplies(instance: string): string {
    return `${this.#p}bus-replies:${instance}`;
  }
}
