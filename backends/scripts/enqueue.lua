-- Write-behind commands (see messages/cache_protocol.hpp). KEYS: every key
-- the call touches (the ops name them by index), all of one hash-tag group
-- or, on a single Redis, of any. ARGV[1] the number of ops, then 19 fields
-- per op: group, kind (s|d|i), client key, value, delta, ttl, entry#,
-- stream#, stats#, max entries, max bytes, low entries, low bytes, loaded (0
-- no, 1 found, 2 absent), loaded value, loaded row's version, expected entry
-- (-1 any; 0 none pending, the row decided; else the version of the value or
-- DEL pending or cached that decided), expiry (Unix ms when the value
-- expires, expiry = "value"; -1 never), scratch# (the key INCRBY's arithmetic
-- runs on). Returns 4 strings per op: status, version, count, error.
--
-- A command is planned on a copy first and applied only when every op can
-- be: a refused command changes nothing. Versions come from Redis's clock in
-- microseconds, above the last one issued and above the entry's, so they
-- keep growing even if Redis loses its data; the clock is field c of the
-- counters of the key's group (a key's versions all come from one clock).
-- Pending entries have no TTL (pinned): an eviction policy that spares keys
-- without a TTL cannot drop a value that has not reached PostgreSQL yet.
-- A command the shard decided (SET NX, APPEND...: core/string_ops.hpp)
-- comes alone, with the entry it decided from: if that entry has changed
-- since, the command is 'changed' and nothing is written (the shard decides
-- again).
-- A value that expires keeps its expiry in the entry's field e, and in the
-- queue entry's: the entry stays pinned past it, its readers judge it.
local F = 19
local n = tonumber(ARGV[1])
local function arg(i, f) return ARGV[1 + (i - 1) * F + f] end
local function key_arg(i, f) return KEYS[tonumber(arg(i, f))] end
local function fmt(x) return string.format('%d', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local stats, entries = {}, {}
-- A group's counters: entries n, bytes b, full while refusing, and the clock
-- c. Each is read once and written once, at the end (a call from Lua costs
-- Redis more than the command it runs).
local function stat(key)
  local s = stats[key]
  if not s then
    local r = redis.pcall('HMGET', key, 'n', 'b', 'full', 'c')
    if r.err then
      s = {bad = true, n = 0, b = 0, c = 0}
    else
      s = {n = tonumber(r[1] or '0'), b = tonumber(r[2] or '0'), full = r[3] == '1',
           c = tonumber(r[4] or '0')}
      s.bad = s.n == nil or s.b == nil or s.c == nil
    end
    stats[key] = s
  end
  return s
end
local function entry(key)
  local e = entries[key]
  if not e then
    local r = redis.pcall('HMGET', key, 'v', 'k', 'd', 'e')
    if r.err then e = {v = 0, wrong = true}
    elseif r[1] then e = {k = r[2], v = tonumber(r[1]) or 0, d = r[3] or '', x = r[4] ~= false}
    else e = {v = 0, x = r[4] ~= false} end
    entries[key] = e
  end
  return e
end
-- A queue key some other program overwrote would fail a write half-way
-- through (a script does not roll back): refuse the command up front.
local kinds = {}
local function wrong_kind(key, want)
  local k = kinds[key]
  if not k then
    k = redis.call('TYPE', key)['ok']
    kinds[key] = k
  end
  return k ~= want and k ~= 'none'
end
local function result(status, version, count, err)
  out[#out + 1] = status; out[#out + 1] = version; out[#out + 1] = count; out[#out + 1] = err
end
-- What the queue's counters gain, written once at the end: a script that
-- has written is never stopped half-way for memory (Redis checks that only
-- before its first write), and its other writes were checked up front.
local added = {}
local stopped = false
local i = 1
while i <= n do
  local g = arg(i, 1)
  local j = i
  while j <= n and arg(j, 1) == g do j = j + 1 end
  local status, err = 'done', ''
  local plan, loads, add, view = {}, {}, {}, {}
  if stopped then status = 'not_run' end
  for x = i, j - 1 do
    if status ~= 'done' then break end
    local kind, key = arg(x, 2), key_arg(x, 7)
    local stream, stats = key_arg(x, 8), key_arg(x, 9)
    if wrong_kind(stream, 'stream') or stat(stats).bad then
      status, err = 'refused', 'ERR the write-behind queue keys ' .. stream .. ' / ' ..
        stats .. ' hold something else; wtcached will not overwrite them'
      break
    end
    if not view[key] then
      local e = entry(key)
      view[key] = {k = e.k, d = e.d}
    end
    local expect = tonumber(arg(x, 17))
    if expect >= 0 then
      local e = entry(key)
      local pending = e.k == 'v' or e.k == 'x'
      if (expect == 0 and pending) or (expect > 0 and not (pending and e.v == expect)) then
        status = 'changed'
        break
      end
    end
    local e = view[key]
    local present, value
    if e.k == 'v' or e.k == 'x' then present, value = e.k == 'v', e.d
    elseif arg(x, 14) == '1' then present, value = true, arg(x, 15)
    elseif arg(x, 14) == '2' then present, value = false, '' end
    local p = {}
    if kind == 's' then
      p.op, p.data, p.count = 's', arg(x, 4), '0'
    elseif present == nil then
      loads[x] = true
    elseif kind == 'd' then
      p.op, p.data, p.count = 'd', '', present and '1' or '0'
    else
      local scratch = key_arg(x, 19)
      redis.call('SET', scratch, present and value or '0')
      local r = redis.pcall('INCRBY', scratch, arg(x, 5))
      local nv = redis.call('GET', scratch)
      redis.call('DEL', scratch)
      if type(r) == 'table' and r.err then status, err = 'refused', r.err
      else p.op, p.data, p.count = 's', nv, nv end
    end
    plan[x] = p
    if p.op then
      e.k, e.d = (p.op == 'd') and 'x' or 'v', p.data
      local sk = key_arg(x, 9)
      local a = add[sk]
      if not a then
        a = {n = 0, b = 0, max_n = tonumber(arg(x, 10)), max_b = tonumber(arg(x, 11)),
             low_n = tonumber(arg(x, 12)), low_b = tonumber(arg(x, 13))}
        add[sk] = a
      end
      a.n = a.n + 1
      a.b = a.b + #arg(x, 3) + #p.data
    end
  end
  if status == 'done' and next(loads) then
    status, stopped = 'needs_load', true
  end
  if status == 'changed' then stopped = true end
  if status == 'done' then
    for sk, a in pairs(add) do
      local s = stat(sk)
      if s.full then
        if s.n < a.low_n and s.b < a.low_b then
          s.full = false
          redis.call('HDEL', sk, 'full')
        else
          status = 'busy'
        end
      end
      if status == 'done' and s.n > 0 and (s.n + a.n > a.max_n or s.b + a.b > a.max_b) then
        status, s.full = 'busy', true
        redis.call('HSET', sk, 'full', '1')
      end
    end
  end
  for x = i, j - 1 do
    if status == 'done' then
      local p, key = plan[x], key_arg(x, 7)
      local e = entry(key)
      local floor = e.v
      if (e.k == nil or e.k == 't') and arg(x, 14) ~= '0' then
        floor = math.max(floor, tonumber(arg(x, 16)) or 0)
      end
      local s = stat(key_arg(x, 9))
      local v = math.max(s.c + 1, now, floor + 1)
      s.c = v
      local vs = fmt(v)
      if e.wrong then redis.call('DEL', key); e.wrong = false end
      local k = (p.op == 'd') and 'x' or 'v'
      local expires = (k == 'v' and tonumber(arg(x, 18)) >= 0) and arg(x, 18) or nil
      redis.call('HSET', key, 'v', vs, 'k', k, 'd', p.data)
      if expires then redis.call('HSET', key, 'e', expires)
      elseif e.x then redis.call('HDEL', key, 'e') end
      redis.call('PERSIST', key)
      e.k, e.v, e.d, e.x = k, v, p.data, expires ~= nil
      local bytes = #arg(x, 3) + #p.data
      local fields = {key_arg(x, 8), '*', 'k', arg(x, 3), 'v', vs, 'o', p.op, 'd', p.data,
                      't', arg(x, 6), 'b', string.format('%d', bytes)}
      if expires then fields[#fields + 1] = 'e'; fields[#fields + 1] = expires end
      redis.call('XADD', unpack(fields))
      s.n, s.b = s.n + 1, s.b + bytes
      added[key_arg(x, 9)] = true
      result('done', vs, p.count, '')
    elseif status == 'needs_load' then
      result(loads[x] and 'needs_load' or 'not_run', '0', '0', '')
    else
      result(status, '0', '0', err)
    end
  end
  i = j
end
for sk in pairs(added) do
  local s = stats[sk]
  redis.call('HSET', sk, 'n', fmt(s.n), 'b', fmt(s.b), 'c', fmt(s.c))
end
return out
