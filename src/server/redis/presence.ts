// Presence (presence/presence.ts) on Redis, with node heartbeats. All keys share one hash tag
// (keys.ts): per node a set of its sessions, per user a hash node -> sessions there, the set of
// users online, a session count, and the nodes' heartbeat deadlines (a sorted set, Redis's own
// clock, so the nodes' clocks do not matter). Each instance refreshes the deadline of the nodes it
// added sessions for and, on the same timer, drops the sessions of every node whose deadline
// passed: a node that dies stops receiving traffic within `expiryMs` and its entries are cleaned by
// the nodes still alive, not only when it returns (ejabberd #1271, MongooseIM #406).
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { Presence } from '../presence/presence.ts';
import { LuaScript } from './script.ts';
import { RedisStoreBase, strings, type RedisStoreOptions } from './store-base.ts';

/** Redis's clock in ms, inside a script. */
const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: node set, user hash, users, count, nodes. ARGV: member, node, user, expiryMs.
const ADD = new LuaScript(`${NOW}
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[4]), ARGV[2])
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('INCR', KEYS[4])
return 1`);

// The removal of one session, shared by REMOVE and DROP. `userKey` is the user's hash key.
const FORGET = `
local function forget(userKey, users, count, node, user)
  if redis.call('HINCRBY', userKey, node, -1) <= 0 then redis.call('HDEL', userKey, node) end
  if redis.call('HLEN', userKey) == 0 then redis.call('SREM', users, user) end
  redis.call('DECR', count)
end`;

// KEYS: node set, user hash, users, count. ARGV: member, node, user.
const REMOVE = new LuaScript(`${FORGET}
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
forget(KEYS[2], KEYS[3], KEYS[4], ARGV[2], ARGV[3])
return 1`);

// KEYS: node set, users, count, nodes, dead. ARGV: node, user key prefix, batch, only-if-expired (1/0).
// Drops at most `batch` sessions per call (a script never runs long); the caller calls again while
// it returns `batch`. When only-if-expired, a node whose heartbeat came back is left alone, and a
// node dropped for good joins the dead set: its delivery stream is re-routed (node-takeover.ts).
const DROP = new LuaScript(`${FORGET}
${NOW}
if ARGV[4] == '1' then
  local deadline = redis.call('ZSCORE', KEYS[4], ARGV[1])
  if deadline and tonumber(deadline) > now then return -1 end
end
local members = redis.call('SPOP', KEYS[1], tonumber(ARGV[3]))
for _, member in ipairs(members) do
  local pair = cjson.decode(member)
  forget(ARGV[2] .. pair[1], KEYS[2], KEYS[3], ARGV[1], pair[1])
end
if #members < tonumber(ARGV[3]) then
  redis.call('ZREM', KEYS[4], ARGV[1])
  if ARGV[4] == '1' then redis.call('SADD', KEYS[5], ARGV[1]) end
end
return #members`);

// KEYS: nodes. ARGV: expiryMs, node... Refreshes the deadlines; returns the nodes that were not
// there: presence forgot them (Redis lost its data, or other nodes took them for dead).
const BEAT = new LuaScript(`${NOW}
local forgotten = {}
for i = 2, #ARGV do
  if redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) == 1 then forgotten[#forgotten + 1] = ARGV[i] end
end
return forgotten`);

// KEYS: nodes. Nodes whose deadline passed.
const EXPIRED = new LuaScript(`${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)`);

const DROP_BATCH = 1000;

export interface RedisPresenceOptions extends RedisStoreOptions {
  /** How often this instance refreshes its nodes' deadlines and looks for dead nodes (default 1000 ms). */
  readonly heartbeatMs?: number;
  /** A node is dead this long after its last heartbeat (default 5000 ms; several heartbeats). */
  readonly expiryMs?: number;
  readonly logger?: Logger;
  /**
   * Called with a node this instance keeps alive that presence had forgotten (its heartbeat found
   * it missing): the node writes its sessions again (cluster-node.ts), so users stay reachable.
   */
  readonly onForgotten?: (node: string) => void;
}

export class RedisPresence extends RedisStoreBase implements Presence {
  readonly #expiryMs: number;
  readonly #logger: Logger;
  /** Nodes this instance added sessions for: it keeps them alive. */
  readonly #local = new Set<string>();
  readonly #timer: NodeJS.Timeout;
  readonly #onForgotten: (node: string) => void;
  #beating = false;
  /** When a heartbeat round trip last succeeded (Date.now()): how long this instance has been cut off. */
  #lastBeat = Date.now();
  /** No node is judged dead before this (Date.now()): see #beatOnce. */
  #graceUntil = 0;

  constructor(options: RedisPresenceOptions) {
    super('Redis presence', options);
    this.#expiryMs = options.expiryMs ?? 5000;
    this.#logger = options.logger ?? silentLogger();
    this.#onForgotten = options.onForgotten ?? (() => undefined);
    this.#timer = setInterval(() => this.#beat(), options.heartbeatMs ?? 1000);
    this.#timer.unref();
  }

  add(user: string, node: string, sessionId: string): Promise<void> {
    const k = this.keys;
    this.#local.add(node);
    return this.run('record a session', async () => {
      await ADD.run(this.client, [k.presenceNode(node), k.presenceUser(user), k.presence('users'), k.presence('count'), k.presence('nodes')],
        [member(user, sessionId), node, user, this.#expiryMs]);
    });
  }

  remove(user: string, node: string, sessionId: string): Promise<void> {
    const k = this.keys;
    return this.run('forget a session', async () => {
      await REMOVE.run(this.client, [k.presenceNode(node), k.presenceUser(user), k.presence('users'), k.presence('count')], [member(user, sessionId), node, user]);
    });
  }

  nodesOf(user: string): Promise<string[]> {
    return this.run('read where a user is', async () => (await this.client.hKeys(this.keys.presenceUser(user))).sort());
  }

  users(): Promise<string[]> {
    return this.run('list users online', async () => {
      const users: string[] = [];
      let cursor = '0';
      do {
        const reply = await this.client.sendCommand<[string, string[]]>(['SSCAN', this.keys.presence('users'), cursor, 'COUNT', '1000']);
        cursor = String(reply[0]);
        users.push(...reply[1]);
      } while (cursor !== '0');
      return [...new Set(users)].sort();
    });
  }

  count(): Promise<number> {
    return this.run('count sessions', async () => Number((await this.client.get(this.keys.presence('count'))) ?? 0));
  }

  sessionsPerNode(): Promise<Record<string, number>> {
    return this.run('count sessions per node', async () => {
      // The nodes heartbeating (a handful: one per daemon), each node's set counted.
      const out: Record<string, number> = {};
      for (const node of await this.client.zRange(this.keys.presence('nodes'), 0, -1)) {
        const n = await this.client.sCard(this.keys.presenceNode(node));
        if (n > 0) out[node] = n;
      }
      return out;
    });
  }

  dropNode(node: string): Promise<number> {
    this.#local.delete(node);
    return this.run('drop a node', () => this.#drop(node, false));
  }

  /**
   * Null while heartbeats reach Redis; else why this node must fence itself: after `expiryMs` without
   * a heartbeat the other nodes take it for dead and drop its sessions (docs/scaling.md "Self-fencing").
   */
  cutOff(now = Date.now()): string | null {
    const silent = now - this.#lastBeat;
    if (silent <= this.#expiryMs) return null;
    return `no heartbeat reached Redis for ${silent} ms (expiryMs ${this.#expiryMs}): ${this.client.isReady ? 'Redis does not answer' : 'the connection to Redis is down'}`;
  }

  /**
   * The Redis master changed (a Sentinel failover, docs/scaling.md "At a Sentinel failover"): a
   * replica promoted may lack the last writes, so the sessions of the nodes this instance keeps
   * alive are written again (onForgotten); and no node is judged dead for one more expiryMs, as after
   * an outage: their heartbeats were stopped by the same failover, and their deadlines were written
   * in the old master's clock.
   */
  masterChanged(): void {
    if (this.closed) return;
    this.#graceUntil = Date.now() + this.#expiryMs;
    for (const node of this.#local) this.#onForgotten(node);
  }

  override async close(): Promise<void> {
    clearInterval(this.#timer);
    await super.close();
  }

  async #drop(node: string, onlyIfExpired: boolean): Promise<number> {
    const k = this.keys;
    let dropped = 0;
    // Bounded: each call removes up to DROP_BATCH sessions; a node has finitely many.
    for (let i = 0; i < 1_000_000; i++) {
      const n = Number(await DROP.run(this.client, [k.presenceNode(node), k.presence('users'), k.presence('count'), k.presence('nodes'), k.presence('dead')],
        [node, k.presenceUser(''), DROP_BATCH, onlyIfExpired ? 1 : 0]));
      if (n < 0) return dropped; // its heartbeat came back
      dropped += n;
      if (n < DROP_BATCH) break;
    }
    return dropped;
  }

  /** One heartbeat: refresh our nodes, then clean the nodes that stopped beating. */
  #beat(): void {
    if (this.#beating || this.closed) return;
    this.#beating = true;
    this.#beatOnce()
      .catch((err: unknown) => this.#logger.warn({ err }, 'presence: heartbeat failed'))
      .finally(() => (this.#beating = false));
  }

  async #beatOnce(): Promise<void> {
    if (this.#local.size > 0) {
      const forgotten = strings(await BEAT.run(this.client, [this.keys.presence('nodes')], [this.#expiryMs, ...this.#local]));
      for (const node of forgotten) {
        this.#logger.warn({ node }, 'presence: this node was missing from presence (Redis lost its data, or it was taken for dead); its sessions are written again');
        this.#onForgotten(node);
      }
    }
    const expired = strings(await EXPIRED.run(this.client, [this.keys.presence('nodes')], []));
    const now = Date.now();
    // Back after being cut off longer than expiryMs: the other nodes' heartbeats were most likely
    // stopped by the same outage, so none is judged dead until each had expiryMs to beat again.
    if (now - this.#lastBeat > this.#expiryMs) this.#graceUntil = now + this.#expiryMs;
    this.#lastBeat = now;
    if (now < this.#graceUntil) return;
    for (const node of expired) {
      if (this.closed) return;
      const dropped = await this.#drop(node, true);
      if (dropped > 0) this.#logger.warn({ node, dropped }, 'presence: a node stopped heartbeating; its sessions were dropped');
    }
  }
}

function member(user: string, sessionId: string): string {
  return JSON.stringify([user, sessionId]);
}
