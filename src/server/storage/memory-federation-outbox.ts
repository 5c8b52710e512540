// The federation outbox (federation-outbox.ts) in memory: for tests and embedders that want no
// file. Nothing survives the process, so a restart loses what was queued and the node id changes
// unless the config names one.
import { randomBytes } from 'node:crypto';
import { BesterError } from '../../protocol/errors.ts';
import {
  newNodeId, type EnqueueOptions, type FederationOutbox, type InboundMark, type NewOutboxEntry, type OutboundMark, type OutboxEntry,
} from './federation-outbox.ts';
import { closedError } from './store-error.ts';

const MAX_EXPIRED_PER_CALL = 1000;

export class MemoryFederationOutbox implements FederationOutbox {
  /** Each peer's messages, in seq order. */
  readonly #queues = new Map<string, OutboxEntry[]>();
  readonly #nextSeq = new Map<string, number>();
  readonly #inbound = new Map<string, InboundMark>();
  readonly #acked = new Map<string, InboundMark>();
  #nodeId: string | null = null;
  #closed = false;

  #rejectClosed<T>(): Promise<T> {
    return Promise.reject(closedError('memory federation outbox'));
  }

  nodeId(): Promise<string> {
    if (this.#closed) return this.#rejectClosed();
    this.#nodeId ??= newNodeId(() => randomBytes(6).toString('hex'));
    return Promise.resolve(this.#nodeId);
  }

  enqueue(entry: NewOutboxEntry, options: EnqueueOptions): Promise<OutboxEntry> {
    if (this.#closed) return this.#rejectClosed();
    const queue = this.#queues.get(entry.peer) ?? [];
    if (queue.length >= options.cap) {
      return Promise.reject(new BesterError('peer_queue_full', `${queue.length} messages are already waiting for server "${entry.peer}" (the limit)`));
    }
    const seq = this.#nextSeq.get(entry.peer) ?? 1;
    this.#nextSeq.set(entry.peer, seq + 1);
    // A copy of the data, as a durable backend would give back: later changes to the caller's object do not leak in.
    const data: unknown = JSON.parse(JSON.stringify(entry.data ?? null));
    const full: OutboxEntry = { ...entry, data, seq, createdAt: options.now, expiresAt: options.now + options.ttlMs };
    queue.push(full);
    this.#queues.set(entry.peer, queue);
    return Promise.resolve(full);
  }

  pending(peer: string, afterSeq: number, limit: number): Promise<OutboxEntry[]> {
    if (this.#closed) return this.#rejectClosed();
    const queue = this.#queues.get(peer) ?? [];
    const out: OutboxEntry[] = [];
    for (const entry of queue) {
      if (out.length >= limit) break;
      if (entry.seq > afterSeq) out.push(entry);
    }
    return Promise.resolve(out);
  }

  acknowledge(peer: string, seq: number, digest?: string): Promise<void> {
    if (this.#closed) return this.#rejectClosed();
    if (digest !== undefined && seq > (this.#acked.get(peer)?.seq ?? 0)) this.#acked.set(peer, { seq, digest });
    const queue = this.#queues.get(peer);
    const at = queue?.findIndex((e) => e.seq === seq) ?? -1;
    if (queue && at >= 0) {
      queue.splice(at, 1);
      if (queue.length === 0) this.#queues.delete(peer);
    }
    return Promise.resolve();
  }

  outboundMark(peer: string): Promise<OutboundMark> {
    if (this.#closed) return this.#rejectClosed();
    const acked = this.#acked.get(peer) ?? { seq: 0, digest: '' };
    return Promise.resolve({ top: (this.#nextSeq.get(peer) ?? 1) - 1, acked: acked.seq, digest: acked.digest });
  }

  renumber(peer: string, after: number, mark: InboundMark): Promise<number> {
    if (this.#closed) return this.#rejectClosed();
    after = Math.max(after, (this.#nextSeq.get(peer) ?? 1) - 1);
    const queue = this.#queues.get(peer) ?? [];
    const first = queue[0]?.seq ?? 0;
    const moved = queue.map((e) => ({ ...e, seq: e.seq - first + after + 1 }));
    if (moved.length > 0) this.#queues.set(peer, moved);
    const top = moved.at(-1)?.seq ?? after;
    this.#nextSeq.set(peer, Math.max(top, after) + 1);
    this.#acked.set(peer, { ...mark });
    return Promise.resolve(top);
  }

  takeExpired(now: number): Promise<OutboxEntry[]> {
    if (this.#closed) return this.#rejectClosed();
    const taken: OutboxEntry[] = [];
    for (const [peer, queue] of [...this.#queues].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const kept: OutboxEntry[] = [];
      for (const entry of queue) {
        if (entry.expiresAt <= now && taken.length < MAX_EXPIRED_PER_CALL) taken.push(entry);
        else kept.push(entry);
      }
      if (kept.length === 0) this.#queues.delete(peer);
      else this.#queues.set(peer, kept);
    }
    return Promise.resolve(taken);
  }

  waiting(): Promise<Record<string, number>> {
    if (this.#closed) return this.#rejectClosed();
    const out: Record<string, number> = {};
    for (const [peer, queue] of this.#queues) out[peer] = queue.length;
    return Promise.resolve(out);
  }

  lastInbound(peer: string): Promise<number> {
    if (this.#closed) return this.#rejectClosed();
    return Promise.resolve(this.#inbound.get(peer)?.seq ?? 0);
  }

  inboundMark(peer: string): Promise<InboundMark> {
    if (this.#closed) return this.#rejectClosed();
    return Promise.resolve({ ...(this.#inbound.get(peer) ?? { seq: 0, digest: '' }) });
  }

  recordInbound(peer: string, seq: number, digest = ''): Promise<void> {
    if (this.#closed) return this.#rejectClosed();
    if (seq > (this.#inbound.get(peer)?.seq ?? 0)) this.#inbound.set(peer, { seq, digest });
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#queues.clear();
    return Promise.resolve();
  }
}
