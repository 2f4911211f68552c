-- KEYS: the entries; ARGV: five per entry: version, kind ("v" value | "t"
-- tombstone), data, ttl in ms, expiry (a write-behind value's, Unix ms,
-- kept in field e as enqueue.lua keeps it; -1 none). Returns one integer
-- per entry: 1 when written, 0 when an entry at this or a newer version is
-- there. One call takes a whole round of writes: per call, EVALSHA costs
-- Redis more than the fence itself.
-- A value at version V may replace a tombstone at V: the tombstone of a dirty
-- key carries the version of the write whose cache update failed, and the
-- row read back at that version is exactly what belongs in the cache. (A
-- DEL's tombstone has a version of its own that no value ever carries.)
local out = {}
for i = 1, #KEYS do
  local key, a = KEYS[i], (i - 1) * 5
  local new, kind = tonumber(ARGV[a + 1]), ARGV[a + 2]
  local cur = redis.pcall('HMGET', key, 'v', 'k', 'e')
  local write = true
  if cur.err then
    redis.call('DEL', key)  -- not a hash: some other program's key
  elseif cur[1] then
    local v = tonumber(cur[1]) or -1
    write = v < new or (v == new and kind == 'v' and cur[2] == 't')
  end
  if write then
    redis.call('HSET', key, 'v', ARGV[a + 1], 'k', kind, 'd', ARGV[a + 3])
    local expires = tonumber(ARGV[a + 5])
    if expires >= 0 and kind == 'v' then redis.call('HSET', key, 'e', ARGV[a + 5])
    elseif not cur.err and cur[3] then redis.call('HDEL', key, 'e') end
    local ttl = tonumber(ARGV[a + 4])
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
