-- After a write-behind batch committed, for one group's stream. KEYS: the
-- stream, its counters, then the cache entries. ARGV: consumer group,
-- tombstone TTL, number of ids, then (id, bytes) per stream entry, then
-- (version, action, ttl, normalised?, normalised value) per cache entry.
-- Acknowledges and deletes the entries, takes them off the queue's counters
-- (once, even if run again), and unpins each entry still at the version just
-- persisted: action "u" gives it its TTL back (and jsonb's normalised text),
-- action "t" (dead letter) makes it a tombstone so reads go to the database.
local stream, stats = KEYS[1], KEYS[2]
local group = ARGV[1]
local tomb_ttl = tonumber(ARGV[2])
local nids = tonumber(ARGV[3])
local acked, bytes = 0, 0
local p = 4
local ids = {}
for i = 1, nids do
  if redis.call('XACK', stream, group, ARGV[p]) == 1 then
    acked = acked + 1
    bytes = bytes + tonumber(ARGV[p + 1])
  end
  ids[#ids + 1] = ARGV[p]
  p = p + 2
end
-- One XDEL per 500 entries (unpack's stack is bounded): each call costs
-- more than the deletes it makes.
for i = 1, #ids, 500 do
  redis.call('XDEL', stream, unpack(ids, i, math.min(i + 499, #ids)))
end
if acked > 0 then
  redis.call('HINCRBY', stats, 'n', -acked)
  redis.call('HINCRBY', stats, 'b', -bytes)
end
for k = 3, #KEYS do
  local key = KEYS[k]
  local v, action, ttl = ARGV[p], ARGV[p + 1], tonumber(ARGV[p + 2])
  local has, norm = ARGV[p + 3], ARGV[p + 4]
  p = p + 5
  local r = redis.pcall('HMGET', key, 'v', 'k')
  if not r.err and r[1] == v then
    if action == 't' then
      redis.call('HSET', key, 'k', 't', 'd', '')
      redis.call('PEXPIRE', key, tomb_ttl)
    else
      if has == '1' then redis.call('HSET', key, 'd', norm) end
      if r[2] == 'x' then redis.call('PEXPIRE', key, tomb_ttl)
      elseif ttl > 0 then redis.call('PEXPIRE', key, ttl) end
    end
  end
end
return acked
