// Re-routing what a dead node left on its delivery stream (docs/scaling.md "When a node dies").
// Presence puts a node whose heartbeat expired in its dead set (presence.ts DROP); every node looks
// at that set each heartbeat, and one of them at a time (a lock with a lease, in the dead node's
// slot) takes the dead node's stream over: each entry still in it (read by the dead node and not
// acknowledged, or not read yet: the ACK script deletes an entry only once every group acknowledged
// it) is handed to `reroute`, then its publisher is acknowledged for every group (so a publisher
// still waiting counts the delivery as made, not as failed) and the entry deleted. Once the stream
// is empty, it and the node's subscriber set are deleted and the node leaves the dead set. A node
// that comes back under the same name does the same for its own stream before it subscribes again,
// under the same lock: what its earlier run left is re-routed once, never also read by its new run.
import { randomBytes } from 'node:crypto';
import type { BusDelivery } from '../presence/delivery-bus.ts';
import type { Reroute } from '../presence/cluster-faults.ts';
import { silentLogger, type Logger } from '../log.ts';
import { busDelivery } from './bus-scripts.ts';
import type { RedisClient } from './client.ts';
import { RedisKeys } from './keys.ts';
import { LuaScript } from './script.ts';
import { strings } from './store-base.ts';

const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: lock. ARGV: token, lease ms. Extends the lease if it is still ours: 1, else 0. */
const RENEW = new LuaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`);

/** KEYS: lock. ARGV: token. Lets go of the lock if it is still ours. */
const RELEASE = new LuaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/** KEYS: subscribers. 1 when the node has a live subscriber (it is back, or never died). */
const LIVE = new LuaScript(`${NOW}
return #redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'LIMIT', 0, 1)`);

/**
 * KEYS: stream, subscribers. ARGV: own (1: the node itself, at its start). -1: a live subscriber
 * (not dead after all); n > 0: entries still there; 0: the stream and the subscriber set deleted.
 * Atomic with PUBLISH (bus-scripts.ts), which adds only while a subscriber is live.
 */
const FINISH = new LuaScript(`${NOW}
if ARGV[1] ~= '1' and #redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf', 'LIMIT', 0, 1) > 0 then return -1 end
local n = redis.call('XLEN', KEYS[1])
if n > 0 then return n end
redis.call('DEL', KEYS[1], KEYS[2])
return 0`);

export interface NodeTakeoverOptions {
  readonly client: RedisClient;
  readonly prefix: string;
  /** This node: never taken over by itself while it runs. */
  readonly nodeId: string;
  /** How often the dead set is looked at (the presence heartbeat). */
  readonly heartbeatMs: number;
  /** The lock's lease: another node takes over if this one dies while re-routing. */
  readonly leaseMs?: number;
  readonly logger?: Logger;
}

/** Entries read at a time. */
const BATCH = 32;
/** Bounds one takeover (rounds of BATCH entries); the rest is left for the next heartbeat. */
const MAX_ROUNDS = 10_000;

export class NodeTakeover {
  readonly #o: NodeTakeoverOptions;
  readonly #keys: RedisKeys;
  readonly #logger: Logger;
  readonly #token = randomBytes(8).toString('hex');
  readonly #lease: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #closed = false;
  /** Entries re-routed by this node (for the logs and the tests). */
  rerouted = 0;

  constructor(options: NodeTakeoverOptions) {
    this.#o = options;
    this.#keys = new RedisKeys(options.prefix);
    this.#logger = options.logger ?? silentLogger();
    this.#lease = options.leaseMs ?? 30_000;
  }

  /** From now on, every heartbeat: take over the streams of the nodes in the dead set. */
  watch(reroute: Reroute): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.#sweep(reroute)
        .catch((err: unknown) => this.#logger.warn({ err }, 'cluster: could not re-route the deliveries of a dead node; trying again'))
        .finally(() => (this.#running = null));
    }, this.#o.heartbeatMs);
    this.#timer.unref();
  }

  /**
   * At this node's start, before it subscribes: re-routes what an earlier run of it left (that run's
   * sessions are gone). Waits (bounded by the lease) for a node already doing it. Resolves to the
   * number of entries re-routed.
   */
  async takeOverOwn(reroute: Reroute): Promise<number> {
    const node = this.#o.nodeId;
    const lock = this.#keys.bus(node, 'takeover');
    const deadline = Date.now() + this.#lease + 1000;
    while (!(await this.#lock(lock))) {
      if (Date.now() > deadline) {
        this.#logger.warn({ node }, 'cluster: the takeover lock of this node was still held; taking it (a delivery may be made twice)');
        await this.#o.client.set(lock, this.#token, { PX: this.#lease });
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      // No new entries from now on: PUBLISH adds only while a subscriber is live.
      await this.#o.client.del(this.#keys.bus(node, 'subscribers'));
      const n = await this.#drain(node, reroute, true);
      await this.#o.client.sRem(this.#keys.presence('dead'), node);
      return n ?? 0;
    } finally {
      await RELEASE.run(this.#o.client, [lock], [this.#token]).catch(() => 0);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  async #sweep(reroute: Reroute): Promise<void> {
    const dead = (await this.#o.client.sMembers(this.#keys.presence('dead'))).filter((n) => n !== this.#o.nodeId).slice(0, 16);
    for (const node of dead) {
      if (this.#closed) return;
      const lock = this.#keys.bus(node, 'takeover');
      if (!(await this.#lock(lock))) continue; // another node is on it
      try {
        const n = await this.#drain(node, reroute, false);
        if (n === null) this.#logger.info({ node }, 'cluster: a node taken for dead is back; its stream is its own again');
        else if (n > 0) this.#logger.warn({ node, rerouted: n }, 'cluster: the deliveries a dead node had not made were re-routed');
        await this.#o.client.sRem(this.#keys.presence('dead'), node);
      } finally {
        await RELEASE.run(this.#o.client, [lock], [this.#token]).catch(() => 0);
      }
    }
  }

  #lock(lock: string): Promise<boolean> {
    return this.#o.client.set(lock, this.#token, { NX: true, PX: this.#lease }).then((r) => r === 'OK');
  }

  /** Re-routes every entry of `node`'s stream; null when the node turned out to be alive. */
  async #drain(node: string, reroute: Reroute, own: boolean): Promise<number | null> {
    const { client } = this.#o;
    const stream = this.#keys.bus(node, 'stream');
    const subscribers = this.#keys.bus(node, 'subscribers');
    const lock = this.#keys.bus(node, 'takeover');
    if (!own && Number(await LIVE.run(client, [subscribers], [])) > 0) return null;
    const groups = await this.#groups(stream);
    let done = 0;
    let start = '-';
    for (let round = 0; round < MAX_ROUNDS && !this.#closed; round++) {
      const entries = rangeEntries(await client.sendCommand(['XRANGE', stream, start, '+', 'COUNT', String(BATCH)]));
      if (entries.length === 0) {
        const left = Number(await FINISH.run(client, [stream, subscribers], [own ? 1 : 0]));
        if (left === 0) return done;
        if (left < 0) return null;
        start = '-';
        continue;
      }
      for (const [id, fields] of entries) {
        start = `(${id}`;
        const delivery: BusDelivery = busDelivery(fields);
        const result = await reroute(node, delivery);
        const replyTo = fields['reply'] ?? '';
        const pub = fields['pub'] ?? '';
        for (const group of groups) {
          const reply = result.ok ? { pub, group, ok: true } : { pub, group, ok: false, error: `node "${node}" died; ${result.error}` };
          if (replyTo !== '') await client.publish(replyTo, JSON.stringify(reply));
        }
        await client.sendCommand(['XDEL', stream, id]);
        done++;
        this.rerouted++;
      }
      if (Number(await RENEW.run(client, [lock], [this.#token, this.#lease])) !== 1) {
        this.#logger.warn({ node }, 'cluster: lost the takeover lock of a dead node; another node goes on');
        return done;
      }
    }
    return done;
  }

  /** The stream's consumer groups (each one a subscriber its publisher waits for). */
  async #groups(stream: string): Promise<string[]> {
    try {
      const info = await this.#o.client.sendCommand<unknown[]>(['XINFO', 'GROUPS', stream]);
      return info.map((g) => {
        const flat = strings(g);
        return flat[flat.indexOf('name') + 1] ?? '';
      }).filter((g) => g !== '');
    } catch {
      return []; // no stream: nothing to re-route
    }
  }
}

/** XRANGE's reply as [id, fields]. */
function rangeEntries(reply: unknown): Array<[string, Record<string, string>]> {
  if (!Array.isArray(reply)) return [];
  return reply.map((entry) => {
    const [id, flat] = entry as [string, string[]];
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
    return [String(id), fields];
  });
}
