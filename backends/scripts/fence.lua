-- KEYS: the entries; ARGV: six per entry: version, kind ("v" value | "t"
-- tombstone | "r" only take the mark away), data, ttl in ms, expiry (a
-- write-behind value's, Unix ms, kept in field e as enqueue.lua keeps it; -1
-- none), and the id of the mark (mark.lua) this write takes away ("" none:
-- a fill, or a tombstone of a dirty key). Returns one integer per entry: 1
-- when written, 0 when not: an entry at this or a newer version is there, a
-- fill met a live mark, or the kind was "r". One call takes a whole round of
-- writes: per call, EVALSHA costs Redis more than the fence itself.
-- A value at version V may replace a tombstone at V: the tombstone of a dirty
-- key carries the version of the write whose cache update failed, and the
-- row read back at that version is exactly what belongs in the cache. (A
-- DEL's tombstone has a version of its own that no value ever carries.)
-- Marks: a value written while other marks are live stays unread until the
-- last of them is gone (readers take a marked entry for a miss), so its TTL
-- is never shorter than their latest deadline. When every mark has lapsed
-- (their writers are gone), the entry is dropped: its copy and its TTL are
-- then nothing to go by, and the next read reads through.
local now = nil
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = t[1] * 1000 + math.floor(t[2] / 1000)
  end
  return now
end
local out = {}
for i = 1, #KEYS do
  local key, a = KEYS[i], (i - 1) * 6
  local new, kind, mark = tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 6]
  local cur = redis.pcall('HMGET', key, 'v', 'k', 'e', 'p', 'pu')
  if cur.err then
    redis.call('DEL', key)  -- not a hash: some other program's key
    cur = {}
  end
  local marks = tonumber(cur[4]) or 0
  if marks > 0 and mark ~= '' and redis.call('HDEL', key, 'p:' .. mark) == 1 then
    marks = marks - 1
    if marks == 0 then redis.call('HDEL', key, 'p', 'pu')
    else redis.call('HSET', key, 'p', marks) end
  end
  if marks > 0 and (tonumber(cur[5]) or 0) <= clock() then
    redis.call('DEL', key)
    cur, marks = {}, 0
  end
  local write = kind ~= 'r' and not (marks > 0 and mark == '' and kind == 'v')
  if write and cur[1] then
    local v = tonumber(cur[1]) or -1
    write = v < new or (v == new and kind == 'v' and cur[2] == 't')
  end
  if write then
    redis.call('HSET', key, 'v', ARGV[a + 1], 'k', kind, 'd', ARGV[a + 3])
    local expires = tonumber(ARGV[a + 5])
    if expires >= 0 and kind == 'v' then redis.call('HSET', key, 'e', ARGV[a + 5])
    elseif cur[3] then redis.call('HDEL', key, 'e') end
    local ttl = tonumber(ARGV[a + 4])
    if marks > 0 and ttl > 0 then ttl = math.max(ttl, tonumber(cur[5]) - clock()) end
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
