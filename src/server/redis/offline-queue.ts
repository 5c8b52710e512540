// The offline queue (storage/offline-queue.ts, docs/protocol.md §4.3.1) on Redis. All its keys
// share one hash tag (keys.ts), so every operation is one atomic script: ids from one counter
// (never reused, increasing: put order), entries in one hash (id -> JSON), each user's ids in a
// sorted set (score: id) and every id in an expiry index (score: expiresAt). The per-user cap is
// checked inside the put script, so concurrent puts from any node never exceed it.
import { BesterError } from '../../protocol/errors.ts';
import {
  MAX_EXPIRED_PER_CALL,
  type NewOfflineEntry,
  type OfflineEntry,
  type OfflineEntryId,
  type OfflineQueue,
  type PutOptions,
  entryBytes,
  overCap,
} from '../storage/offline-queue.ts';
import { LuaScript } from './script.ts';
import { RedisStoreBase, strings, type RedisStoreOptions } from './store-base.ts';

// KEYS: seq, entries, expiry, user, bytes. ARGV: cap, entry JSON without id, expiresAt, user, size,
// byte cap per user ('' none), byte cap in all ('' none). Byte counts per user and in all (field
// '') live in one hash. Refused: {0, count, user bytes, all bytes}; kept: {id}.
const PUT = new LuaScript(`
local n = redis.call('ZCARD', KEYS[4])
local ub = tonumber(redis.call('HGET', KEYS[5], ARGV[4]) or '0')
local tb = tonumber(redis.call('HGET', KEYS[5], '') or '0')
local size = tonumber(ARGV[5])
if n >= tonumber(ARGV[1]) or (ARGV[6] ~= '' and ub + size > tonumber(ARGV[6])) or (ARGV[7] ~= '' and tb + size > tonumber(ARGV[7])) then
  return {0, n, ub, tb}
end
local id = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], id, ARGV[2])
redis.call('ZADD', KEYS[4], id, id)
redis.call('ZADD', KEYS[3], ARGV[3], id)
redis.call('HINCRBY', KEYS[5], ARGV[4], size)
redis.call('HINCRBY', KEYS[5], '', size)
return {id}`);

// KEYS: entries, expiry, user prefix, bytes. ARGV: id, max expiresAt ('+inf' for any). Returns 1 if removed.
const REMOVE = new LuaScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if ARGV[2] ~= '+inf' then
  local at = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if (not at) or tonumber(at) > tonumber(ARGV[2]) then return 0 end
end
local entry = cjson.decode(raw)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3] .. entry.user, ARGV[1])
local size = string.len(entry.frame)
if redis.call('HINCRBY', KEYS[4], entry.user, -size) <= 0 then redis.call('HDEL', KEYS[4], entry.user) end
redis.call('HINCRBY', KEYS[4], '', -size)
return 1`);

// KEYS: user, entries. ARGV: after id, limit. Returns [id, json, id, json...].
const PAGE = new LuaScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then out[#out + 1] = id; out[#out + 1] = raw end
end
return out`);

// KEYS: expiry, entries. ARGV: now, limit. Returns [id, json, ...] of expired entries (not removed).
const EXPIRED = new LuaScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then out[#out + 1] = id; out[#out + 1] = raw end
end
return out`);

type Stored = Omit<OfflineEntry, 'id'>;

export class RedisOfflineQueue extends RedisStoreBase implements OfflineQueue {
  constructor(options: RedisStoreOptions) {
    super('Redis offline queue', options);
  }

  put(entry: NewOfflineEntry, options: PutOptions): Promise<OfflineEntry> {
    const stored: Stored = {
      user: entry.user, frame: entry.frame, msgType: entry.msgType, msgId: entry.msgId,
      sender: entry.sender, origin: entry.origin, createdAt: options.now, expiresAt: options.now + options.ttlMs,
    };
    const k = this.keys;
    return this.run('keep a message', async () => {
      const size = entryBytes(entry);
      const reply = strings(await PUT.run(this.client,
        [k.offline('seq'), k.offline('entries'), k.offline('expiry'), k.offlineUser(entry.user), k.offline('bytes')],
        [options.cap, JSON.stringify(stored), stored.expiresAt, entry.user, size, options.capBytes ?? '', options.totalCapBytes ?? '']));
      const id = Number(reply[0]);
      if (id === 0) {
        const waiting = { count: Number(reply[1]), bytes: Number(reply[2]), totalBytes: Number(reply[3]) };
        throw overCap(entry.user, waiting, size, options) ?? new BesterError('recipient_queue_full', `no room for a message for "${entry.user}"`);
      }
      return { id, ...stored };
    });
  }

  page(user: string, after: OfflineEntryId | null, limit: number): Promise<OfflineEntry[]> {
    return this.run('read messages', async () =>
      pairs(await PAGE.run(this.client, [this.keys.offlineUser(user), this.keys.offline('entries')], [after === null ? 0 : Number(after), Math.max(0, limit)])));
  }

  remove(id: OfflineEntryId): Promise<boolean> {
    return this.run('remove a message', async () => Number(await this.#remove(Number(id), '+inf')) === 1);
  }

  takeExpired(now: number, skip: (user: string) => boolean = () => false): Promise<OfflineEntry[]> {
    return this.run('remove expired messages', async () => {
      const expired = pairs(await EXPIRED.run(this.client, [this.keys.offline('expiry'), this.keys.offline('entries')], [now, MAX_EXPIRED_PER_CALL]));
      const taken: OfflineEntry[] = [];
      // Each removal is checked again in its script: of concurrent sweeps, one removes an entry.
      for (const entry of expired.sort((a, b) => Number(a.id) - Number(b.id))) {
        if (skip(entry.user)) continue;
        if (Number(await this.#remove(Number(entry.id), String(now))) === 1) taken.push(entry);
      }
      return taken;
    });
  }

  waiting(user?: string): Promise<number> {
    return this.run('count messages', async () =>
      user === undefined ? this.client.hLen(this.keys.offline('entries')) : this.client.zCard(this.keys.offlineUser(user)));
  }

  #remove(id: number, maxExpiresAt: string): Promise<unknown> {
    const k = this.keys;
    return REMOVE.run(this.client, [k.offline('entries'), k.offline('expiry'), k.offlineUser(''), k.offline('bytes')], [id, maxExpiresAt]);
  }
}

function pairs(reply: unknown): OfflineEntry[] {
  const flat = strings(reply);
  const out: OfflineEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const stored = JSON.parse(flat[i + 1]!) as Stored;
    out.push({ id: Number(flat[i]), ...stored });
  }
  return out;
}
