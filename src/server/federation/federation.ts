// Federation (docs/federation.md): sendServers targets resolved to peers, messages put durably in
// the outbox and carried by one link per peer; inbound links accepted from configured peers;
// expired messages reported to their sender. Counters for everything refused or dropped.
import { randomUUID } from 'node:crypto';
import { BesterError, type ErrorCode } from '../../protocol/errors.ts';
import { ReplayCache, type PeerMessage } from '../../protocol/federation.ts';
import type { FederationConfig, PeerConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { ServerEvents } from '../events.ts';
import type { FederationOutbox, OutboxEntry } from '../storage/federation-outbox.ts';
import { InboundLink, type LinkIo } from './inbound-link.ts';
import { LegacyLink } from './legacy-link.ts';
import { entryProblem } from './link-frame.ts';
import { PeerLink, type LinkState } from './peer-link.ts';
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
  /** Whether later messages of the sender's connection wait behind this one: then the ack is not waited for. */
  readonly later?: () => boolean;
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
  /** A message that will not be delivered (its TTL passed, or the peer refused it): tell its sender (if they are ours). */
  readonly onUndeliverable: (entry: OutboxEntry, reason: string) => void;
  /** The core's events: `peer.link` on every link state change. */
  readonly events?: ServerEvents;
  /** In a cluster: whether this node holds a peer's link (link-ownership.ts); absent: every link is ours. */
  readonly ownership?: { owns(peer: string): boolean; announce(peer: string): void };
}

type Link = PeerLink | LegacyLink;

export class Federation {
  readonly nodeId: string;
  readonly counters: Record<string, number> = Object.create(null) as Record<string, number>;
  readonly #o: FederationOptions;
  /** options.config, until a reload replaces it (reconfigure()). */
  #config: FederationConfig;
  readonly #links = new Map<string, Link>();
  readonly #replay = new Map<string, ReplayCache>();
  /** Reports waiting for an ack, by `peer\nseq`: resolved true (acknowledged) or false (stop waiting). */
  readonly #waiters = new Map<string, (acked: boolean) => void>();
  readonly #inbound = new Set<InboundLink>();
  /** Each peer's active inbound link (§3.7: one at a time). */
  readonly #active = new Map<string, InboundLink>();
  /** Each peer's processing lane: the last step queued (§3.7). */
  readonly #lanes = new Map<string, Promise<unknown>>();
  readonly #sweeper: NodeJS.Timeout;
  /** The outbox's count per peer, for status(): refreshed (once per turn of the event loop) after each change. */
  #waiting: Record<string, number>;
  #refresh: NodeJS.Immediate | null = null;
  #refreshes = 0;
  #closed = false;

  constructor(options: FederationOptions) {
    this.#o = options;
    this.#config = options.config;
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
      const fresh = { peer: key, type: request.type, msgId: id, data: request.data, origin: request.origin ?? this.nodeId, hops: request.hops + 1, sender: request.sender };
      // Finding 2 of issue 15: what the link cannot carry is refused now, not left to block the queue.
      const problem = this.#carriable(key, fresh);
      if (problem !== null) {
        failed.push({ target, code: 'peer_undeliverable', reason: `the result cannot be sent to server "${target}": ${problem}` });
        this.count('too_large');
        continue;
      }
      let entry: OutboxEntry;
      try {
        entry = await this.#o.store.enqueue(fresh, { now: Date.now(), ttlMs: this.#config.outboxTtlMs, cap: this.#config.outboxCap });
      } catch (err) {
        const e = err instanceof BesterError ? err : new BesterError('store_error', String(err), { cause: err });
        failed.push({ target, code: e.code, reason: e.message });
        this.count(e.code);
        continue;
      }
      servers[target] = 'queued';
      this.count('queued');
      this.#refreshWaiting();
      const link = this.#linkFor(key);
      if (link === null) this.#o.ownership?.announce(key); // another node of the cluster sends it
      // Finding 6: the report waits for the peer's ack only while one is expected soon and no later
      // message of the sender waits behind it; otherwise `queued` at once (reports keep their order).
      const later = request.later ?? ((): boolean => false);
      if (link?.prompt === true && !later()) {
        acks.push(this.#waitForAck(key, entry.seq, later).then((acked) => {
          if (acked) servers[target] = 'delivered';
        }));
      }
      link?.kick();
    }
    await Promise.all(acks);
    return { servers, failed };
  }

  /** A connection whose first frame is sealed: a peer opening its link to us. */
  acceptInbound(io: LinkIo, first: unknown, remote: string, text?: string): InboundLink | null {
    const link = new InboundLink(
      {
        self: this.nodeId,
        config: this.#config,
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
        maxFrameBytes: this.#o.maxFrameBytes,
        maxJsonDepth: this.#o.maxJsonDepth,
        activate: (peer, link) => {
          const before = this.#active.get(peer);
          this.#active.set(peer, link);
          before?.retire();
        },
        lane: (peer, step) => this.#lane(peer, step),
      },
      io,
      remote,
    );
    if (!link.start(first, text)) return null;
    this.#inbound.add(link);
    return link;
  }

  inboundClosed(link: InboundLink): void {
    link.closed();
    this.#inbound.delete(link);
    const peer = link.peer;
    if (peer !== null && this.#active.get(peer) === link) this.#active.delete(peer);
  }

  /** The inbound links open now (tests and serverInfo): peer, window and the most they ever queued. */
  inboundLinks(): Array<{ peer: string | null; window: number; highWater: { messages: number; bytes: number } }> {
    return [...this.#inbound].map((l) => ({ peer: l.peer, window: l.window, highWater: { ...l.highWater } }));
  }

  /** Runs `step` once every step queued before it for `peer` settled (§3.7). */
  #lane<T>(peer: string, step: () => Promise<T>): Promise<T> {
    const before = this.#lanes.get(peer) ?? Promise.resolve();
    const run = before.then(step, step);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#lanes.set(peer, tail);
    // Forget a settled lane so that idle peers hold nothing.
    void tail.then(() => {
      if (this.#lanes.get(peer) === tail) this.#lanes.delete(peer);
    });
    return run;
  }

  /** Why a new entry could not travel to the peer `key` (our own limits), or null. Legacy links carry anything. */
  #carriable(key: string, entry: Parameters<typeof entryProblem>[0]): string | null {
    const peer = this.#config.peers.get(key);
    if (!peer || peer.legacy || peer.secret === null) return null;
    return entryProblem(entry, { secret: peer.secret, self: this.nodeId, peer: key }, { maxFrameBytes: this.#o.maxFrameBytes, maxJsonDepth: this.#o.maxJsonDepth });
  }

  /**
   * A reload (docs/federation.md, "Reloading peers"): `config` replaces the federation settings, and
   * the links of the peers named in `renew` (removed, changed, or every peer when other settings
   * changed) are closed, outbound and inbound. Their messages stay in the outbox: a peer still
   * configured gets a new link with the new settings now, and reconnects to us with its own; a
   * removed peer's messages wait until it is configured again or their TTL passes.
   */
  reconfigure(config: FederationConfig, renew: readonly string[]): void {
    if (this.#closed) return;
    this.#config = config;
    for (const key of renew) {
      const link = this.#links.get(key);
      if (link) {
        this.#links.delete(key);
        link.close();
      }
      for (const inbound of this.#inbound) if (inbound.peer === key) inbound.retire();
    }
    for (const key of renew) if ((this.#waiting[key] ?? 0) > 0 && config.peers.has(key)) this.#linkFor(key)?.kick();
    for (const key of config.peers.keys()) if (!renew.includes(key) && (this.#waiting[key] ?? 0) > 0) this.#linkFor(key)?.kick();
  }

  /** This node gained or lost the lease on `peer`'s link (docs/scaling.md): start it, or stop it now. */
  ownershipChanged(peer: string, owned: boolean): void {
    if (this.#closed) return;
    this.#links.get(peer)?.close();
    this.#links.delete(peer);
    if (owned) this.#linkFor(peer)?.kick();
  }

  /** A message for `peer` was queued (here or on another node): its link, if this node has it, sends it. */
  kick(peer: string): void {
    if (!this.#closed) this.#linkFor(peer)?.kick();
  }

  /** Reads the outbox's counts and kicks the links of the peers with messages waiting. Never rejects. */
  async kickWaiting(): Promise<void> {
    const waiting = await this.#o.store.waiting().catch(() => null); // the next round tries again
    if (waiting !== null) this.#waiting = waiting;
    for (const peer of Object.keys(this.#waiting)) this.kick(peer);
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
    for (const resolve of this.#waiters.values()) resolve(false);
    this.#waiters.clear();
  }

  /** The outbox key for a target: a configured peer's name, or `legacy:host:port` when allowed. */
  #resolve(target: string): string | { code: ErrorCode; reason: string } {
    const peers = this.#config.peers;
    if (peers.has(target)) return target;
    const address = parseHostPort(target);
    if (address) {
      for (const peer of peers.values()) {
        if (peer.host !== null && sameHost(peer.host, address.host) && peer.port === address.port) return peer.name;
      }
      if (this.#config.allowUnlistedTargets) return `legacy:${address.host}:${address.port}`;
    }
    return { code: 'unknown_peer', reason: `"${target}" is not a configured peer` };
  }

  #linkFor(key: string): Link | null {
    const existing = this.#links.get(key);
    if (existing) return existing;
    if (this.#o.ownership?.owns(key) === false) return null;
    const onState = (state: LinkState): void => {
      // Finding 6: a report waiting for this peer's ack says `queued` as soon as the peer is found down.
      if (state === 'backoff' || state === 'closed') for (const [k, resolve] of this.#waiters) if (k.startsWith(`${key}\n`)) resolve(false);
      const events = this.#o.events;
      if (events?.has('peer.link') === true) events.emit('peer.link', { peer: key, state });
    };
    const onUndeliverable = (entry: OutboxEntry, reason: string): void => {
      this.count('undeliverable');
      this.#refreshWaiting();
      this.#o.onUndeliverable(entry, reason);
    };
    const count = (name: string): void => this.count(name);
    const onAck = (e: { peer: string; seq: number }): void => {
      this.count('acknowledged');
      this.#refreshWaiting();
      const waiter = this.#waiters.get(`${e.peer}\n${e.seq}`);
      waiter?.(true);
    };
    let link: Link | null = null;
    const peer: PeerConfig | undefined = this.#config.peers.get(key);
    const logger = this.#o.logger;
    if (peer && !peer.legacy && peer.secret !== null && peer.host !== null && peer.port !== null) {
      link = new PeerLink({
        self: this.nodeId,
        peer: { ...peer, secret: peer.secret, host: peer.host, port: peer.port },
        config: this.#config,
        store: this.#o.store,
        maxFrameBytes: this.#o.maxFrameBytes,
        maxJsonDepth: this.#o.maxJsonDepth,
        logger,
        onAck,
        onUndeliverable,
        onState,
        count,
      });
    } else if (peer && peer.legacy && peer.host !== null && peer.port !== null) {
      link = new LegacyLink({ key, host: peer.host, port: peer.port, config: this.#config, store: this.#o.store, logger, onAck, onState });
    } else if (key.startsWith('legacy:')) {
      const address = parseHostPort(key.slice('legacy:'.length));
      if (address) link = new LegacyLink({ key, ...address, config: this.#config, store: this.#o.store, logger, onAck, onState });
    }
    // A peer with no address only ever connects to us; its messages wait until it is configured with one.
    if (link) this.#links.set(key, link);
    return link;
  }

  /**
   * Resolves true if the peer acknowledges within ackWaitMs, false otherwise (the message stays
   * queued), or as soon as `later()` says a later message of the sender is waiting behind this one.
   */
  #waitForAck(peer: string, seq: number, later: () => boolean): Promise<boolean> {
    const key = `${peer}\n${seq}`;
    return new Promise((resolve) => {
      const started = Date.now();
      const finish = (acked: boolean): void => {
        clearInterval(timer);
        this.#waiters.delete(key);
        resolve(acked);
      };
      const timer = setInterval(() => {
        if (later() || Date.now() - started >= this.#config.ackWaitMs) finish(false);
      }, Math.min(10, this.#config.ackWaitMs));
      this.#waiters.set(key, finish);
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
      const link = this.#links.get(entry.peer);
      if (link instanceof PeerLink) link.forget(entry.seq); // finding 7: its place in the window is free
      const reason = `not delivered to server "${entry.peer}" within ${Math.round(this.#config.outboxTtlMs / 1000)} s`;
      this.#o.logger.warn({ peer: entry.peer, seq: entry.seq, id: entry.msgId, sender: entry.sender }, 'outbox message expired');
      this.#o.onUndeliverable(entry, reason);
    }
  }
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string): string => (h === 'localhost' ? '127.0.0.1' : h.toLowerCase());
  return norm(a) === norm(b);
}
