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
  type InboundMark,
  type NewOutboxEntry,
  type OutboundMark,
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

// KEYS: inbound, inbound digests. ARGV: peer, seq, digest. Never lowers.
const RECORD_INBOUND = new LuaScript(`
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > old then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
return 1`);

// KEYS: acked marks. ARGV: peer, seq, digest. The outbound mark's acked seq, never lowered (§3.6).
const MARK_ACKED = new LuaScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and tonumber(cjson.decode(old)[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({tonumber(ARGV[2]), ARGV[3]}))
return 1`);

// KEYS: seq, entries, expiry, seqs, acked marks. ARGV: peer, after, mark seq, mark digest.
// Moves every waiting message past max(after, top), in order; the entry's JSON starts with its
// "seq" (enqueue writes it first), so only that number is rewritten: the data's text is untouched.
const RENUMBER = new LuaScript(`
local top = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = math.max(tonumber(ARGV[2]), top)
local seqs = redis.call('ZRANGE', KEYS[4], 0, -1)
local first = tonumber(seqs[1] or '0')
local last = after
for _, s in ipairs(seqs) do
  local old = tonumber(s)
  local new = old - first + after + 1
  local raw = redis.call('HGET', KEYS[2], s)
  local entry = string.gsub(raw, '^{"seq":%d+', '{"seq":' .. new, 1)
  local oldMember = cjson.encode({ARGV[1], old})
  local at = redis.call('ZSCORE', KEYS[3], oldMember)
  redis.call('ZREM', KEYS[3], oldMember)
  redis.call('HDEL', KEYS[2], s)
  redis.call('ZREM', KEYS[4], s)
  redis.call('HSET', KEYS[2], new, entry)
  redis.call('ZADD', KEYS[4], new, new)
  if at then redis.call('ZADD', KEYS[3], at, cjson.encode({ARGV[1], new})) end
  last = new
end
redis.call('SET', KEYS[1], math.max(last, after))
redis.call('HSET', KEYS[5], ARGV[1], cjson.encode({tonumber(ARGV[3]), ARGV[4]}))
return last`);

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

  acknowledge(peer: string, seq: number, digest?: string): Promise<void> {
    return this.run('remove an acknowledged message', async () => {
      if (digest !== undefined) await MARK_ACKED.run(this.client, [this.keys.outbox('acked')], [peer, seq, digest]);
      await this.#take(peer, seq, '+inf');
    });
  }

  outboundMark(peer: string): Promise<OutboundMark> {
    return this.run('read the outbound mark', async () => {
      const top = Number((await this.client.get(this.keys.outboxPeer(peer, 'seq'))) ?? 0);
      const raw = await this.client.hGet(this.keys.outbox('acked'), peer);
      const [acked, digest] = raw ? (JSON.parse(raw) as [number, string]) : [0, ''];
      return { top, acked, digest };
    });
  }

  renumber(peer: string, after: number, mark: InboundMark): Promise<number> {
    const k = this.keys;
    return this.run('renumber queued messages', async () =>
      Number(await RENUMBER.run(this.client,
        [k.outboxPeer(peer, 'seq'), k.outboxPeer(peer, 'entries'), k.outbox('expiry'), k.outboxPeer(peer, 'seqs'), k.outbox('acked')],
        [peer, after, mark.seq, mark.digest])));
  }

  inboundMark(peer: string): Promise<InboundMark> {
    return this.run('read the inbound mark', async () => {
      const seq = Number((await this.client.hGet(this.keys.outbox('inbound'), peer)) ?? 0);
      const digest = seq === 0 ? '' : ((await this.client.hGet(this.keys.outbox('inboundDigest'), peer)) ?? '');
      return { seq, digest };
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

  recordInbound(peer: string, seq: number, digest = ''): Promise<void> {
    return this.run('record an inbound seq', async () => {
      await RECORD_INBOUND.run(this.client, [this.keys.outbox('inbound'), this.keys.outbox('inboundDigest')], [peer, seq, digest]);
    });
  }

  #take(peer: string, seq: number, maxExpiresAt: string): Promise<unknown> {
    const k = this.keys;
    return ACK.run(this.client, [k.outboxPeer(peer, 'entries'), k.outbox('expiry'), k.outbox('waiting'), k.outboxPeer(peer, 'seqs')], [peer, seq, maxExpiresAt]);
  }
}
