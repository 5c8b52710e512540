// The delivery bus's Lua scripts (delivery-bus.ts explains the design). Each touches one node's
// keys only (its stream and its subscribers: one hash tag, one slot).
import { readBusKept, type BusDelivery } from '../presence/delivery-bus.ts';
import { LuaScript } from './script.ts';

/** A stream entry's fields as PUBLISH wrote them, read back as the delivery. */
export function busDelivery(fields: Record<string, string>): BusDelivery {
  const delivery = { users: JSON.parse(fields['users'] ?? '[]') as string[], frame: fields['frame'] ?? '' };
  const kept = readBusKept(fields['kept']);
  return kept === undefined ? delivery : { ...delivery, kept };
}

const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: subscribers, stream. ARGV: reply channel, publish id, users JSON, frame, kept JSON ('' when none). Returns the live groups (empty: none, nothing added). */
export const PUBLISH = new LuaScript(`${NOW}
local groups = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
if #groups == 0 then return groups end
redis.call('XADD', KEYS[2], '*', 'users', ARGV[3], 'frame', ARGV[4], 'reply', ARGV[1], 'pub', ARGV[2], 'kept', ARGV[5] or '')
return groups`);

/** KEYS: subscribers. ARGV: expiryMs, group... Registers (again) live subscribers. */
export const HEARTBEAT = new LuaScript(`${NOW}
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
return 1`);

/**
 * KEYS: stream. ARGV: group, id, reply channel, reply message. Acknowledges the entry for this
 * group, tells the publisher, and deletes the entry once every group has it delivered and
 * acknowledged: never an entry some group still has to take (no MAXLEN trimming). Returns how many
 * received the publisher's reply (PUBLISH's count; -1 without a reply channel): 0 means the
 * publisher's reply connection was not subscribed (unheard-replies.ts).
 */
export const ACK = new LuaScript(`
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
local heard = -1
if ARGV[3] ~= '' then heard = redis.call('PUBLISH', ARGV[3], ARGV[4]) end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local ims, iseq = parse(ARGV[2])
for _, info in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, last
  for i = 1, #info, 2 do
    if info[i] == 'name' then name = info[i + 1] end
    if info[i] == 'last-delivered-id' then last = info[i + 1] end
  end
  local lms, lseq = parse(last)
  if lms < ims or (lms == ims and lseq < iseq) then return heard end
  if #redis.call('XPENDING', KEYS[1], name, ARGV[2], ARGV[2], 1) > 0 then return heard end
end
redis.call('XDEL', KEYS[1], ARGV[2])
return heard`);
