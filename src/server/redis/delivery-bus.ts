// The delivery bus (presence/delivery-bus.ts) on Redis streams (docs/scaling.md "Delivery between
// nodes"). Each node has a durable stream; each subscriber of a node is a consumer group on it
// (named by its place among this instance's subscriptions of that node, so a restarted node takes
// up its group again and is handed first what it had read but not acknowledged), registered with
// a heartbeat deadline. A publish adds the entry only if the node has live subscribers (one script:
// the check and the XADD are atomic) and waits for each of them to acknowledge on this instance's
// reply channel; a subscriber acknowledges (XACK) after its listener resolved, and the entry is
// deleted once every group took and acknowledged it: unacknowledged entries are never trimmed.
// Blocking reads run on a connection of their own per subscription, never on the shared one.
// An acknowledgement no publisher received (its reply connection late to subscribe again after a
// failover) is published again until one does, within ackTimeoutMs (unheard-replies.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { BesterError } from '../../protocol/errors.ts';
import type { BusDelivery, DeliveryBus, DeliveryListener } from '../presence/delivery-bus.ts';
import { silentLogger, type Logger } from '../log.ts';
import { ACK, busDelivery, HEARTBEAT, PUBLISH } from './bus-scripts.ts';
import type { RedisClient } from './client.ts';
import { CLOSE_WAIT_MS, RedisStoreBase, strings, type RedisStoreOptions } from './store-base.ts';
import { UnheardReplies } from './unheard-replies.ts';

export interface RedisDeliveryBusOptions extends RedisStoreOptions {
  /** How long a publish waits for its acknowledgements before rejecting (default 10 s). */
  readonly ackTimeoutMs?: number;
  /** Subscribers' heartbeat period (default 1 s); one is dead after `expiryMs` (default 5 s). */
  readonly heartbeatMs?: number;
  readonly expiryMs?: number;
  /** Longest blocking read (default 1 s): how soon a reader notices an unsubscribe. */
  readonly blockMs?: number;
  readonly logger?: Logger;
  /**
   * PUBLISH counts every receiver (true, the default: one Redis, Sentinel), so an acknowledgement
   * nobody received is published again; false on a Redis Cluster, where it counts one master's.
   */
  readonly countsReceivers?: boolean;
}

interface Reply {
  readonly pub: string;
  readonly group: string;
  readonly ok: boolean;
  readonly error?: string;
}

interface PendingPublish {
  readonly node: string;
  readonly replies: Map<string, Reply>;
  expected: string[] | null;
  readonly settle: (err: BesterError | null) => void;
}

interface Subscription {
  readonly node: string;
  readonly group: string;
  readonly listener: DeliveryListener;
  readonly reader: RedisClient;
  active: boolean;
  /** Its last read succeeded (false from a failed read until the next one succeeds). */
  reading: boolean;
  done: Promise<void>;
}

export class RedisDeliveryBus extends RedisStoreBase implements DeliveryBus {
  readonly #o: Required<Omit<RedisDeliveryBusOptions, keyof RedisStoreOptions>>;
  readonly #instance = randomBytes(8).toString('hex');
  readonly #pending = new Map<string, PendingPublish>();
  readonly #subs = new Set<Subscription>();
  readonly #groupCount = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  readonly #unheard: UnheardReplies;
  #replies: Promise<RedisClient> | null = null;
  #published = 0;

  constructor(options: RedisDeliveryBusOptions) {
    super('Redis delivery bus', options);
    this.#o = {
      ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
      heartbeatMs: options.heartbeatMs ?? 1000,
      expiryMs: options.expiryMs ?? 5000,
      blockMs: options.blockMs ?? 1000,
      logger: options.logger ?? silentLogger(),
      countsReceivers: options.countsReceivers ?? true,
    };
    this.#unheard = new UnheardReplies((channel, message) => this.client.publish(channel, message), this.#o.ackTimeoutMs, this.#o.logger);
    this.#timer = setInterval(() => this.#beat(), this.#o.heartbeatMs);
    this.#timer.unref();
  }

  subscribe(node: string, onDelivery: DeliveryListener): Promise<() => Promise<void>> {
    return this.run('subscribe', async () => {
      const n = (this.#groupCount.get(node) ?? 0) + 1;
      this.#groupCount.set(node, n);
      const group = `g${n}`;
      await this.#createGroup(node, group, '$');
      const reader = this.client.duplicate();
      reader.on('error', (err: unknown) => this.#o.logger.warn({ err, node }, 'delivery bus: reader connection lost, reconnecting'));
      await reader.connect();
      await HEARTBEAT.run(this.client, [this.keys.bus(node, 'subscribers')], [this.#o.expiryMs, group]);
      const sub: Subscription = { node, group, listener: onDelivery, reader, active: true, reading: false, done: Promise.resolve() };
      this.#subs.add(sub);
      sub.done = this.#read(sub);
      return () => this.#unsubscribe(sub);
    });
  }

  publish(node: string, delivery: BusDelivery): Promise<void> {
    // Serialised now: the publisher may reuse its objects once publish returns.
    const users = JSON.stringify(delivery.users);
    const frame = delivery.frame;
    const kept = delivery.kept === undefined ? '' : JSON.stringify(delivery.kept);
    return this.run('publish', async () => {
      const channel = this.keys.busReplies(this.#instance);
      await this.#replyChannel(channel);
      const pub = `${this.#instance}:${++this.#published}`;
      const acknowledged = new Promise<void>((resolve, reject) => {
        const settle = (err: BesterError | null): void => {
          clearTimeout(timer);
          this.#pending.delete(pub);
          if (err) reject(err);
          else resolve();
        };
        this.#pending.set(pub, { node, replies: new Map(), expected: null, settle });
      });
      // The timeout can reject it while the script below still waits for Redis (a failover):
      // handled here, so it is never an unhandled rejection; the caller gets it from the return.
      acknowledged.catch(() => undefined);
      // Registered before the entry is added: a reply may come before the script's own answer.
      const timer = setTimeout(() => this.#pending.get(pub)?.settle(
        new BesterError('store_error', `node "${node}" did not acknowledge a delivery within ${this.#o.ackTimeoutMs} ms`)), this.#o.ackTimeoutMs);
      let groups: string[];
      try {
        groups = strings(await PUBLISH.run(this.client, [this.keys.bus(node, 'subscribers'), this.keys.bus(node, 'stream')],
          [channel, pub, users, frame, kept]));
      } catch (err) {
        this.#pending.get(pub)?.settle(null);
        await acknowledged;
        throw err;
      }
      const pending = this.#pending.get(pub);
      if (pending) {
        if (groups.length === 0) pending.settle(new BesterError('store_error', `no subscriber for node "${node}"`));
        else {
          pending.expected = groups;
          this.#check(pub);
        }
      }
      return acknowledged;
    });
  }

  /** True when `node` has subscriptions here and each one's last read succeeded (a node back from a cut reads again). */
  reading(node: string): boolean {
    const subs = [...this.#subs].filter((sub) => sub.node === node);
    return subs.length > 0 && subs.every((sub) => sub.reading);
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.#timer);
    this.#unheard.close();
    await Promise.all([...this.#subs].map((sub) => this.#unsubscribe(sub)));
    for (const pending of [...this.#pending.values()]) pending.settle(new BesterError('store_error', 'the delivery bus closed'));
    const replies = this.#replies;
    this.#replies = null;
    if (replies) {
      // Its first connection may still wait for Redis (stopped while cut off): not for long.
      const dropped = replies.then((c) => c.destroy(), () => undefined);
      await Promise.race([dropped, sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
    }
    await super.close();
  }

  /** This instance's reply channel, subscribed once on a pub/sub connection of its own. */
  #replyChannel(channel: string): Promise<RedisClient> {
    this.#replies ??= (async () => {
      const sub = this.client.duplicate();
      sub.on('error', (err: unknown) => this.#o.logger.warn({ err }, 'delivery bus: reply connection lost, reconnecting'));
      await sub.connect();
      // node-redis subscribes again after a reconnect; a reply lost meanwhile ends in the publish's timeout.
      await sub.subscribe(channel, (message) => this.#onReply(message));
      return sub;
    })();
    this.#replies.catch(() => (this.#replies = null));
    return this.#replies;
  }

  #onReply(message: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(message) as Reply;
    } catch {
      return;
    }
    const pending = this.#pending.get(reply.pub);
    if (!pending) return; // timed out, or acknowledged again after a redelivery
    pending.replies.set(reply.group, reply);
    this.#check(reply.pub);
  }

  #check(pub: string): void {
    const pending = this.#pending.get(pub);
    if (!pending || pending.expected === null) return;
    const failed = pending.expected.map((g) => pending.replies.get(g)).find((r) => r !== undefined && !r.ok);
    if (failed) {
      pending.settle(new BesterError('store_error', `node "${pending.node}" could not take a delivery: ${failed.error ?? 'failed'}`));
    } else if (pending.expected.every((g) => pending.replies.has(g))) {
      pending.settle(null);
    }
  }

  async #createGroup(node: string, group: string, from: string): Promise<void> {
    try {
      await this.client.sendCommand(['XGROUP', 'CREATE', this.keys.bus(node, 'stream'), group, from, 'MKSTREAM']);
    } catch (err) {
      // BUSYGROUP: an earlier run of this node left its group: it resumes where that one stopped.
      if (!(err instanceof Error) || !err.message.startsWith('BUSYGROUP')) throw err;
    }
  }

  /** The subscription's read loop: first what its group read but did not acknowledge, then new entries. */
  async #read(sub: Subscription): Promise<void> {
    const stream = this.keys.bus(sub.node, 'stream');
    let cursor = '0';
    for (let failures = 0; sub.active && !this.closed;) {
      let reply: unknown;
      try {
        // The consumer is named after the group (one reader per group), so a restarted node reading
        // from '0' is handed what its earlier run read and did not acknowledge.
        reply = await sub.reader.sendCommand(['XREADGROUP', 'GROUP', sub.group, sub.group, 'COUNT', '16',
          ...(cursor === '>' ? ['BLOCK', String(this.#o.blockMs)] : []), 'STREAMS', stream, cursor]);
        failures = 0;
        sub.reading = true;
      } catch (err) {
        sub.reading = false;
        if (!sub.active) return;
        if (err instanceof Error && err.message.startsWith('NOGROUP')) {
          // Redis lost the stream (restarted empty, or a failover): make the group again and say so.
          this.#o.logger.error({ node: sub.node, group: sub.group }, 'delivery bus: the consumer group was gone (Redis lost its data?); created again');
          await this.#createGroup(sub.node, sub.group, '0').catch(() => undefined);
        }
        failures++;
        // Unref'd: a daemon stopping while Redis is out of reach does not wait for this pause to end.
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(failures, 6))).unref());
        cursor = '0';
        continue;
      }
      const entries = streamEntries(reply);
      if (cursor === '0' && entries.length === 0) cursor = '>';
      for (const [id, fields] of entries) {
        if (!sub.active) return;
        await this.#take(sub, stream, id, fields);
      }
    }
  }

  async #take(sub: Subscription, stream: string, id: string, fields: Record<string, string> | null): Promise<void> {
    let reply: Reply;
    const pub = fields?.['pub'] ?? '';
    try {
      if (fields === null) throw new Error('the entry was deleted');
      const delivery = busDelivery(fields);
      await sub.listener(delivery);
      reply = { pub, group: sub.group, ok: true };
    } catch (err) {
      reply = { pub, group: sub.group, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    if (!sub.active) return; // not acknowledged: a later run of this group gets it again
    // Not awaited: the next entry's listener need not wait for this round trip. Commands on one
    // connection run in order, so acknowledgements still go out in delivery order.
    const channel = fields?.['reply'] ?? '';
    const message = JSON.stringify(reply);
    ACK.run(this.client, [stream], [sub.group, id, channel, message]).then((heard) => {
      if (Number(heard) === 0 && this.#o.countsReceivers) this.#unheard.add(channel, message);
    }, (err: unknown) => {
      // Left pending: read again after the next failure of the loop (at least once).
      this.#o.logger.warn({ err, node: sub.node }, 'delivery bus: could not acknowledge a delivery');
    });
  }

  async #unsubscribe(sub: Subscription): Promise<void> {
    if (!sub.active) return;
    sub.active = false;
    this.#subs.delete(sub);
    sub.reader.destroy(); // ends a blocking read at once
    await sub.done.catch(() => undefined);
    if (this.closed) return;
    await this.client.zRem(this.keys.bus(sub.node, 'subscribers'), sub.group).catch(() => 0);
    // Leaving for good: its group goes, so the stream does not keep entries for nobody.
    await this.client.sendCommand(['XGROUP', 'DESTROY', this.keys.bus(sub.node, 'stream'), sub.group]).catch(() => 0);
  }

  #beat(): void {
    const byNode = new Map<string, string[]>();
    for (const sub of this.#subs) byNode.set(sub.node, [...(byNode.get(sub.node) ?? []), sub.group]);
    for (const [node, groups] of byNode) {
      HEARTBEAT.run(this.client, [this.keys.bus(node, 'subscribers')], [this.#o.expiryMs, ...groups])
        .catch((err: unknown) => this.#o.logger.warn({ err, node }, 'delivery bus: heartbeat failed'));
    }
  }
}

/** XREADGROUP's reply ([[stream, [[id, [field, value...] | null]...]]] or null) as [id, fields]. */
function streamEntries(reply: unknown): Array<[string, Record<string, string> | null]> {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const entries = (reply[0] as [string, unknown[]])[1];
  return entries.map((entry) => {
    const [id, flat] = entry as [string, string[] | null];
    if (!Array.isArray(flat)) return [String(id), null];
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
    return [String(id), fields];
  });
}
