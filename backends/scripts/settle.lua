-- After a write-behind batch committed. The batch comes in sections, one
-- per stream (a group's: on a Redis Cluster a call carries one section, on a
-- single Redis any number). KEYS, per section: the stream, its counters,
-- then its cache entries. ARGV: consumer group, tombstone TTL, number of
-- sections, then per section: the number of stream entries and of cache
-- entries, (id, bytes) per stream entry, (version, action, ttl, normalised?,
-- normalised value) per cache entry. Acknowledges and deletes the entries,
-- takes them off the queue's counters (once, even if run again), and unpins
-- each entry still at the version just persisted: action "u" gives it its
-- TTL back (and jsonb's normalised text), action "t" (dead letter) makes it
-- a tombstone so reads go to the database. An entry older than the version
-- persisted becomes a tombstone at that version. Returns the entries
-- acknowledged.
local group = ARGV[1]
local tomb_ttl = tonumber(ARGV[2])
local sections = tonumber(ARGV[3])
local p, k = 4, 1
local acked_all = 0
for _ = 1, sections do
  local stream, stats = KEYS[k], KEYS[k + 1]
  k = k + 2
  local nids, nkeys = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
  p = p + 2
  local acked, bytes = 0, 0
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
  acked_all = acked_all + acked
  for _ = 1, nkeys do
    local key = KEYS[k]
    k = k + 1
    local v, action, ttl = ARGV[p], ARGV[p + 1], tonumber(ARGV[p + 2])
    local has, norm = ARGV[p + 3], ARGV[p + 4]
    p = p + 5
    local r = redis.pcall('HMGET', key, 'v', 'k')
    local at = not r.err and tonumber(r[1])
    if at and at < tonumber(v) then
      -- Older than what was just persisted: the cache lost the newer
      -- entry (a Redis Cluster master failed over before its replica had
      -- it). A tombstone at the persisted version sends reads to the row.
      redis.call('HSET', key, 'v', v, 'k', 't', 'd', '')
      redis.call('PEXPIRE', key, tomb_ttl)
    elseif not r.err and r[1] == v then
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
end
return acked_all
