-- KEYS: the entries; ARGV: six per entry: version, kind ("v" value | "t"
-- tombstone | "r" only take the mark away | "p" a value that keeps its
-- mark: sent beside its COMMIT, it stays unread until a release "r"
-- follows, and is refused when the mark is gone), data, ttl in ms, expiry (a
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
-- is never shorter than their latest deadline; its own expiry waits in
-- field "px" (as mark.lua leaves it) and is restored when the last mark goes
-- without a write. A mark past its deadline belongs to a writer that is gone
-- (the deadline outlasts any transaction and the fills in flight beside it):
-- it is dropped, and with it the copy, which that writer's commit may have
-- made stale; with no mark left the whole entry goes, and the next read
-- reads through.
local now = nil
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = t[1] * 1000 + math.floor(t[2] / 1000)
  end
  return now
end
-- Drops the lapsed marks of `key`; returns the marks left and whether any lapsed.
local function drop_lapsed(key)
  local names = {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, 2) == 'p:' then names[#names + 1] = f end
  end
  if #names == 0 then return 0, false end
  local deadlines = redis.call('HMGET', key, unpack(names))
  local live, latest, lapsed = 0, 0, false
  for j, f in ipairs(names) do
    local d = tonumber(deadlines[j]) or 0
    if d <= clock() then
      redis.call('HDEL', key, f)
      lapsed = true
    else
      live = live + 1
      if d > latest then latest = d end
    end
  end
  if lapsed then
    if live == 0 then
      redis.call('DEL', key)
    else
      redis.call('HDEL', key, 'v', 'k', 'd', 'e', 'px')
      redis.call('HSET', key, 'p', live, 'pu', latest)
    end
  end
  return live, lapsed
end
local out = {}
for i = 1, #KEYS do
  local key, a = KEYS[i], (i - 1) * 6
  local new, kind, mark = tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 6]
  local pending = kind == 'p'
  if pending then kind = 'v' end
  -- Field 7: this write's own mark, read with the rest (each call from Lua
  -- costs Redis more than the command it runs).
  local own = mark ~= '' and 'p:' .. mark or nil
  local fields = {'v', 'k', 'e', 'p', 'pu', 'px', own}
  local cur = redis.pcall('HMGET', key, unpack(fields))
  if cur.err then
    redis.call('DEL', key)  -- not a hash: some other program's key
    cur = {}
  end
  local marks = tonumber(cur[4]) or 0
  local has_own = own ~= nil and cur[7] ~= nil and cur[7] ~= false
  local released = false
  if marks > 0 and has_own and not pending then
    marks = marks - 1
    released = true
    if marks == 0 then redis.call('HDEL', key, own, 'p', 'pu')
    else
      redis.call('HDEL', key, own)
      redis.call('HSET', key, 'p', marks)
    end
  end
  -- The one mark counted is this write's own, live: none can have lapsed
  -- (the common case, spared reading every mark's deadline).
  local alone = pending and has_own and marks == 1 and (tonumber(cur[7]) or 0) > clock()
  local scanned = false
  if marks > 0 and not alone then
    local lapsed
    marks, lapsed = drop_lapsed(key)
    scanned = true
    if lapsed then
      cur = {}
      if has_own then has_own = redis.call('HEXISTS', key, own) == 1 end
    end
  end
  local write = kind ~= 'r' and not (marks > 0 and mark == '' and kind == 'v')
  -- Without its mark a pending value would be read before its COMMIT.
  if pending and not has_own then write = false end
  if write and cur[1] then
    local v = tonumber(cur[1]) or -1
    write = v < new or (v == new and kind == 'v' and cur[2] == 't')
  end
  if write then
    local sets = {'v', ARGV[a + 1], 'k', kind, 'd', ARGV[a + 3]}
    local dels = {}
    local expires = tonumber(ARGV[a + 5])
    if expires >= 0 and kind == 'v' then sets[#sets + 1] = 'e'; sets[#sets + 1] = ARGV[a + 5]
    elseif cur[3] then dels[#dels + 1] = 'e' end
    local ttl = tonumber(ARGV[a + 4])
    -- The marks' latest deadline: as read, unless the scan may have changed it.
    local latest = marks > 0 and (scanned and redis.call('HGET', key, 'pu') or cur[5])
    local left = marks > 0 and tonumber(latest) - clock() or 0
    local keep = ttl > 0 and ttl < left
    if keep then
      sets[#sets + 1] = 'px'; sets[#sets + 1] = clock() + ttl  -- its own expiry, once the marks are gone
    elseif cur[6] then
      dels[#dels + 1] = 'px'
    end
    if #dels > 0 then redis.call('HDEL', key, unpack(dels)) end
    redis.call('HSET', key, unpack(sets))
    if keep then redis.call('PEXPIRE', key, left)
    elseif ttl > 0 then redis.call('PEXPIRE', key, ttl)
    else redis.call('PERSIST', key) end
    out[i] = 1
  else
    -- The last mark went without a write: the copy's own expiry is back.
    if released and marks == 0 and cur[6] then
      local at = tonumber(cur[6])
      redis.call('HDEL', key, 'px')
      if at <= clock() then redis.call('DEL', key) else redis.call('PEXPIREAT', key, at) end
    end
    out[i] = 0
  end
end
return out
