-- Before a write-through transaction commits: marks
-- each of its entries pending. KEYS: the entries; ARGV: the mark's id (unique
-- per transaction, across nodes) and its lifetime in ms. A mark is a field
-- "p:<id>" holding its deadline on Redis's clock; "p" counts the marks and
-- "pu" holds the latest deadline. While "p" is above 0 a reader takes the
-- entry for a miss and fence.lua refuses fills, so no read trusts a copy
-- older than a write that may have committed. The write's cache update takes
-- its own mark away (fence.lua), never another's; a mark whose writer died
-- lapses at its deadline. Returns the number of entries marked.
-- Each entry costs three calls (a call from Lua costs Redis more than the
-- command it runs): PTTL (which also says whether it exists), one read of
-- the fields and one HSET, or for a new entry HSET and PEXPIRE.
local t = redis.call('TIME')
local lifetime = tonumber(ARGV[2])
local deadline = t[1] * 1000 + math.floor(t[2] / 1000) + lifetime
local field = 'p:' .. ARGV[1]
for i = 1, #KEYS do
  local key = KEYS[i]
  local ttl = redis.call('PTTL', key)  -- -2: no entry
  local cur = nil
  if ttl ~= -2 then
    cur = redis.pcall('HMGET', key, field, 'p', 'pu', 'px')
    if cur.err then
      redis.call('DEL', key)  -- not a hash: some other program's key
      cur = nil
    end
  end
  if not cur then
    redis.call('HSET', key, field, deadline, 'p', 1, 'pu', deadline)
    redis.call('PEXPIRE', key, lifetime)
  else
    local sets = {}
    if not cur[1] then  -- marking twice under one id counts once
      sets[#sets + 1] = field; sets[#sets + 1] = deadline
      sets[#sets + 1] = 'p'; sets[#sets + 1] = (tonumber(cur[2]) or 0) + 1
    end
    if deadline > (tonumber(cur[3]) or 0) then
      sets[#sets + 1] = 'pu'; sets[#sets + 1] = deadline
    end
    -- The entry outlives its marks (a persistent one stays persistent: a
    -- lapsed mark is found by the next script that reads it). A copy that
    -- was to expire sooner keeps that time in field "px", and gets it back
    -- when its last mark goes without a write (fence.lua).
    local sooner = ttl >= 0 and ttl < lifetime
    if sooner and not cur[4] then
      sets[#sets + 1] = 'px'; sets[#sets + 1] = redis.call('PEXPIRETIME', key)
    end
    if #sets > 0 then redis.call('HSET', key, unpack(sets)) end
    if sooner then redis.call('PEXPIRE', key, lifetime) end
  end
end
return #KEYS
