// The federation outbox (storage/federation-outbox.ts, docs/federation.md §4) on Redis, every key
// under one hash tag (keys.ts) so each operation is one atomic script: per peer a sequence counter, a sorted set of the seqs waiting
// (advanced only when the message is taken, so a refused one takes no number) and a hash seq -> JSON;
// one expiry index (member JSON [peer, seq], score expiresAt), the count waiting per peer, the last
// inbound seq per peer, and the node id. In a cluster the outbox is shared by the nodes: which node
// sends to a peer (a lease) is not built yet (docs/scaling.md).
import { randomBytes } from 'node:crypto';
import { BesterError } from '../../protocol/errors.ts';
import {
  newNodeId,
  type EnqueueOptions,
  type FederationOutbox,
  type NewOutboxEntry,
  type OutboxEntry,
} from '../storage/federation-outbox.ts';
import { LuaScript } from './script.ts';
import { RedisStoreBase, strings, type RedisStoreOptions } from './store-base.ts';

const MAX_EXPIRED_PER_CALL = 1000;

// KEYS: seq, entries, expiry, waiting, seqs. ARGV: peer, cap, entry JSON (seq filled in here), expiresAt.
const ENQUEUE = new LuaScript(`
local n = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0')
if n >= tonumber(ARGV[2]) then return {0, n} end
local seq = redis.call('INCR', KEYS[1])
local entry = string.gsub(ARGV[3], '"seq":0', '"seq":' .. seq, 1)
redis.call('HSET', KEYS[2], seq, entry)
redis.call('ZADD', KEYS[5], seq, seq)
redis.call('ZADD', KEYS[3], ARGV[4], cjson.encode({ARGV[1], seq}))
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
return {seq, n}`);

// KEYS: entries, expiry, waiting, seqs. ARGV: peer, seq, max expiresAt or '+inf'. Returns the JSON removed.
const ACK = new LuaScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return false end
local member = cjson.encode({ARGV[1], tonumber(ARGV[2])})
if ARGV[3] ~= '+inf' then
  local at = redis.call('ZSCORE', KEYS[2], member)
  if (not at) or tonumber(at) > tonumber(ARGV[3]) then return false end
end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[2], member)
if redis.call('HINCRBY', KEYS[3], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[1]) end
return raw`);

// KEYS: inbound. ARGV: peer, seq. Never lowers.
const RECORD_INBOUND = new LuaScript(`
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1`);

export class RedisFederationOutbox extends RedisStoreBase implements FederationOutbox {
  constructor(options: RedisStoreOptions) {
    super('Redis federation outbox', options);
  }

  nodeId(): Promise<string> {
    return this.run('read the node id', async () => {
      const fresh = newNodeId(() => randomBytes(6).toString('hex'));
      const before = await this.client.sendCommand<string | null>(['SET', this.keys.outbox('node'), fresh, 'NX', 'GET']);
      return before ?? fresh;
    });
  }

  enqueue(entry: NewOutboxEntry, options: EnqueueOptions): Promise<OutboxEntry> {
    const full: OutboxEntry = {
      // seq first, as 0: the script writes the number it takes in its place.
      seq: 0, peer: entry.peer, type: entry.type, msgId: entry.msgId, data: entry.data ?? null,
      origin: entry.origin, hops: entry.hops, sender: entry.sender, createdAt: options.now, expiresAt: options.now + options.ttlMs,
    };
    const k = this.keys;
    return this.run('queue a message', async () => {
      const reply = strings(await ENQUEUE.run(this.client,
        [k.outboxPeer(entry.peer, 'seq'), k.outboxPeer(entry.peer, 'entries'), k.outbox('expiry'), k.outbox('waiting'), k.outboxPeer(entry.peer, 'seqs')],
        [entry.peer, options.cap, JSON.stringify(full), full.expiresAt]));
      const seq = Number(reply[0]);
      if (seq === 0) throw new BesterError('peer_queue_full', `${reply[1]} messages are already waiting for server "${entry.peer}" (the limit)`);
      return { ...full, data: JSON.parse(JSON.stringify(full.data)) as unknown, seq };
    });
  }

  pending(peer: string, afterSeq: number, limit: number): Promise<OutboxEntry[]> {
    return this.run('read queued messages', async () => {
      const key = this.keys.outboxPeer(peer, 'entries');
      const page = await this.client.zRangeByScore(this.keys.outboxPeer(peer, 'seqs'), `(${afterSeq}`, '+inf', { LIMIT: { offset: 0, count: Math.max(0, limit) } });
      if (page.length === 0) return [];
      const raws = await this.client.hmGet(key, page);
      return raws.filter((r): r is string => typeof r === 'string').map((r) => JSON.parse(r) as OutboxEntry);
    });
  }

  acknowledge(peer: string, seq: number): Promise<void> {
    return this.run('remove an acknowledged message', async () => {
      await this.#take(peer, seq, '+inf');
    });
  }

  takeExpired(now: number): Promise<OutboxEntry[]> {
    return this.run('remove expired messages', async () => {
      const members = await this.client.zRangeByScore(this.keys.outbox('expiry'), '-inf', now, { LIMIT: { offset: 0, count: MAX_EXPIRED_PER_CALL } });
      const taken: OutboxEntry[] = [];
      for (const member of members) {
        const [peer, seq] = JSON.parse(member) as [string, number];
        const raw = await this.#take(peer, seq, String(now));
        if (typeof raw === 'string') taken.push(JSON.parse(raw) as OutboxEntry);
      }
      return taken;
    });
  }

  waiting(): Promise<Record<string, number>> {
    return this.run('count queued messages', async () => {
      const all = await this.client.hGetAll(this.keys.outbox('waiting'));
      const out: Record<string, number> = {};
      for (const [peer, n] of Object.entries(all)) if (Number(n) > 0) out[peer] = Number(n);
      return out;
    });
  }

  lastInbound(peer: string): Promise<number> {
    return this.run('read the last inbound seq', async () => Number((await this.client.hGet(this.keys.outbox('inbound'), peer)) ?? 0));
  }

  recordInbound(peer: string, seq: number): Promise<void> {
    return this.run('record an inbound seq', async () => {
      await RECORD_INBOUND.run(this.client, [this.keys.outbox('inbound')], [peer, seq]);
    });
  }

  #take(peer: string, seq: number, maxExpiresAt: string): Promise<unknown> {
    const k = this.keys;
    return ACK.run(this.client, [k.outboxPeer(peer, 'entries'), k.outbox('expiry'), k.outbox('waiting'), k.outboxPeer(peer, 'seqs')], [peer, seq, maxExpiresAt]);
  }
}
