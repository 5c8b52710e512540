// Federation (docs/federation.md): sendServers targets resolved to peers, messages put durably in
// the outbox and carried by one link per peer; inbound links accepted from configured peers;
// expired messages reported to their sender. Counters for everything refused or dropped.
import { randomUUID } from 'node:crypto';
import { BesterError, type ErrorCode } from '../../protocol/errors.ts';
import { ReplayCache, type PeerMessage } from '../../protocol/federation.ts';
import type { FederationConfig, PeerConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { FederationOutbox, OutboxEntry } from '../storage/federation-outbox.ts';
import { InboundLink, type LinkIo } from './inbound-link.ts';
import { LegacyLink } from './legacy-link.ts';
import { PeerLink } from './peer-link.ts';
import { parseHostPort } from './address.ts';

export interface ForwardRequest {
  readonly type: string;
  readonly id: string | null;
  readonly data: unknown;
  readonly sender: string | null;
  /** Where the message entered the federation; null when it started on this server. */
  readonly origin: string | null;
  /** Servers crossed so far (0 for a message from one of our clients). */
  readonly hops: number;
}

export interface ForwardResult {
  /** Per target as written in sendServers: "delivered" (the peer acknowledged) or "queued" (durably kept). */
  readonly servers: Record<string, 'delivered' | 'queued'>;
  readonly failed: ReadonlyArray<{ readonly target: string; readonly code: ErrorCode; readonly reason: string }>;
}

export interface FederationOptions {
  readonly config: FederationConfig;
  readonly nodeId: string;
  readonly store: FederationOutbox;
  /** What the outbox held at start, per peer (read by the caller): those peers' links start now. */
  readonly waiting?: Record<string, number>;
  readonly maxFrameBytes: number;
  /** limits.maxJsonDepth, for what peers send on our outbound links. */
  readonly maxJsonDepth: number;
  readonly logger: Logger;
  readonly dispatch: (message: PeerMessage, from: string) => Promise<void>;
  /** A message that could not be delivered before its TTL: tell its sender (if they are ours). */
  readonly onUndeliverable: (entry: OutboxEntry, reason: string) => void;
}

type Link = PeerLink | LegacyLink;

export class Federation {
  readonly nodeId: string;
  readonly counters: Record<string, number> = Object.create(null) as Record<string, number>;
  readonly #o: FederationOptions;
  readonly #links = new Map<string, Link>();
  readonly #replay = new Map<string, ReplayCache>();
  readonly #waiters = new Map<string, () => void>();
  readonly #inbound = new Set<InboundLink>();
  readonly #sweeper: NodeJS.Timeout;
  /** The outbox's count per peer, for status(): refreshed (once per turn of the event loop) after each change. */
  #waiting: Record<string, number>;
  #refresh: NodeJS.Immediate | null = null;
  #refreshes = 0;
  #closed = false;

  constructor(options: FederationOptions) {
    this.#o = options;
    this.nodeId = options.nodeId;
    const every = Math.max(1000, Math.min(60_000, Math.floor(options.config.outboxTtlMs / 10)));
    this.#sweeper = setInterval(() => {
      this.#expire().then(undefined, () => undefined); // #expire never rejects
    }, every);
    this.#sweeper.unref();
    this.#waiting = { ...options.waiting };
    // Messages left in the outbox by an earlier run go out now.
    for (const peer of Object.keys(this.#waiting)) this.#linkFor(peer)?.kick();
  }

  /** Carries out sendServers: every target gets the message durably queued, then its link is kicked. */
  async forward(targets: readonly string[], request: ForwardRequest): Promise<ForwardResult> {
    const servers: Record<string, 'delivered' | 'queued'> = {};
    const failed: Array<{ target: string; code: ErrorCode; reason: string }> = [];
    const acks: Array<Promise<void>> = [];
    const id = request.id ?? `${this.nodeId}-${randomUUID()}`;
    for (const target of new Set(targets)) {
      const key = this.#resolve(target);
      if (typeof key !== 'string') {
        failed.push({ target, ...key });
        this.count('unknown_peer');
        continue;
      }
      let entry: OutboxEntry;
      try {
        entry = await this.#o.store.enqueue(
          { peer: key, type: request.type, msgId: id, data: request.data, origin: request.origin ?? this.nodeId, hops: request.hops + 1, sender: request.sender },
          { now: Date.now(), ttlMs: this.#o.config.outboxTtlMs, cap: this.#o.config.outboxCap },
        );
      } catch (err) {
        const e = err instanceof BesterError ? err : new BesterError('store_error', String(err), { cause: err });
        failed.push({ target, code: e.code, reason: e.message });
        this.count(e.code);
        continue;
      }
      servers[target] = 'queued';
      this.count('queued');
      this.#refreshWaiting();
      acks.push(this.#waitForAck(key, entry.seq).then((acked) => {
        if (acked) servers[target] = 'delivered';
      }));
      this.#linkFor(key)?.kick();
    }
    await Promise.all(acks);
    return { servers, failed };
  }

  /** A connection whose first frame is sealed: a peer opening its link to us. */
  acceptInbound(io: LinkIo, first: unknown, remote: string): InboundLink | null {
    const link = new InboundLink(
      {
        self: this.nodeId,
        config: this.#o.config,
        store: this.#o.store,
        logger: this.#o.logger,
        replayCacheFor: (peer) => {
          let cache = this.#replay.get(peer);
          if (!cache) {
            cache = new ReplayCache();
            this.#replay.set(peer, cache);
          }
          return cache;
        },
        dispatch: (message, from) => this.#o.dispatch(message, from),
        count: (reason) => this.count(`inbound_${reason}`),
      },
      io,
      remote,
    );
    if (!link.start(first)) return null;
    this.#inbound.add(link);
    return link;
  }

  inboundClosed(link: InboundLink): void {
    link.closed();
    this.#inbound.delete(link);
  }

  count(name: string): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
  }

  status(): { nodeId: string; links: Record<string, string>; waiting: Record<string, number>; counters: Record<string, number> } {
    const links: Record<string, string> = {};
    for (const [key, link] of this.#links) links[key] = link.state;
    return { nodeId: this.nodeId, links, waiting: { ...this.#waiting }, counters: { ...this.counters } };
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    if (this.#refresh) clearImmediate(this.#refresh);
    for (const link of this.#links.values()) link.close();
    for (const resolve of this.#waiters.values()) resolve();
    this.#waiters.clear();
  }

  /** The outbox key for a target: a configured peer's name, or `legacy:host:port` when allowed. */
  #resolve(target: string): string | { code: ErrorCode; reason: string } {
    const peers = this.#o.config.peers;
    if (peers.has(target)) return target;
    const address = parseHostPort(target);
    if (address) {
      for (const peer of peers.values()) {
        if (peer.host !== null && sameHost(peer.host, address.host) && peer.port === address.port) return peer.name;
      }
      if (this.#o.config.allowUnlistedTargets) return `legacy:${address.host}:${address.port}`;
    }
    return { code: 'unknown_peer', reason: `"${target}" is not a configured peer` };
  }

  #linkFor(key: string): Link | null {
    const existing = this.#links.get(key);
    if (existing) return existing;
    const onAck = (e: { peer: string; seq: number }): void => {
      this.count('acknowledged');
      this.#refreshWaiting();
      const waiter = this.#waiters.get(`${e.peer}\n${e.seq}`);
      waiter?.();
    };
    let link: Link | null = null;
    const peer: PeerConfig | undefined = this.#o.config.peers.get(key);
    const logger = this.#o.logger;
    if (peer && !peer.legacy && peer.secret !== null && peer.host !== null && peer.port !== null) {
      link = new PeerLink({
        self: this.nodeId,
        peer: { ...peer, secret: peer.secret, host: peer.host, port: peer.port },
        config: this.#o.config,
        store: this.#o.store,
        maxFrameBytes: this.#o.maxFrameBytes,
        maxJsonDepth: this.#o.maxJsonDepth,
        logger,
        onAck,
      });
    } else if (peer && peer.legacy && peer.host !== null && peer.port !== null) {
      link = new LegacyLink({ key, host: peer.host, port: peer.port, config: this.#o.config, store: this.#o.store, logger, onAck });
    } else if (key.startsWith('legacy:')) {
      const address = parseHostPort(key.slice('legacy:'.length));
      if (address) link = new LegacyLink({ key, ...address, config: this.#o.config, store: this.#o.store, logger, onAck });
    }
    // A peer with no address only ever connects to us; its messages wait until it is configured with one.
    if (link) this.#links.set(key, link);
    return link;
  }

  /** Resolves true if the peer acknowledges within ackWaitMs, false otherwise (the message stays queued). */
  #waitForAck(peer: string, seq: number): Promise<boolean> {
    const key = `${peer}\n${seq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(key);
        resolve(false);
      }, this.#o.config.ackWaitMs);
      this.#waiters.set(key, () => {
        clearTimeout(timer);
        this.#waiters.delete(key);
        resolve(true);
      });
    });
  }

  /** Reads the outbox's count per peer again, at most once per turn of the event loop; a later read wins. */
  #refreshWaiting(): void {
    if (this.#refresh !== null || this.#closed) return;
    this.#refresh = setImmediate(() => {
      this.#refresh = null;
      const generation = ++this.#refreshes;
      this.#o.store.waiting().then(
        (waiting) => {
          if (generation === this.#refreshes) this.#waiting = waiting;
        },
        (err: unknown) => {
          if (!this.#closed) this.#o.logger.error({ err }, 'could not count the outbox');
        },
      );
    });
  }

  /** Never rejects. */
  async #expire(): Promise<void> {
    let expired: OutboxEntry[];
    try {
      expired = await this.#o.store.takeExpired(Date.now());
    } catch (err) {
      if (!this.#closed) this.#o.logger.error({ err }, 'outbox expiry failed');
      return;
    }
    if (expired.length > 0) this.#refreshWaiting();
    for (const entry of expired) {
      this.count('expired');
      const reason = `not delivered to server "${entry.peer}" within ${Math.round(this.#o.config.outboxTtlMs / 1000)} s`;
      this.#o.logger.warn({ peer: entry.peer, seq: entry.seq, id: entry.msgId, sender: entry.sender }, 'outbox message expired');
      this.#o.onUndeliverable(entry, reason);
    }
  }
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string): string => (h === 'localhost' ? '127.0.0.1' : h.toLowerCase());
  return norm(a) === norm(b);
}
