-- Before a write-through transaction commits: marks
-- each of its entries pending. KEYS: the entries; ARGV: the mark's id (unique
-- per transaction, across nodes) and its lifetime in ms. A mark is a field
-- "p:<id>" holding its deadline on Redis's clock; "p" counts the marks and
-- "pu" holds the latest deadline. While "p" is above 0 a reader takes the
-- entry for a miss and fence.lua refuses fills, so no read trusts a copy
-- older than a write that may have committed. The write's cache update takes
-- its own mark away (fence.lua), never another's; a mark whose writer died
-- lapses at its deadline. Returns the number of entries marked.
local t = redis.call('TIME')
local lifetime = tonumber(ARGV[2])
local deadline = t[1] * 1000 + math.floor(t[2] / 1000) + lifetime
local field = 'p:' .. ARGV[1]
for i = 1, #KEYS do
  local key = KEYS[i]
  local existed = redis.call('EXISTS', key) == 1
  local added = redis.pcall('HSETNX', key, field, deadline)
  if type(added) == 'table' and added.err then
    redis.call('DEL', key)  -- not a hash: some other program's key
    existed = false
    added = redis.call('HSETNX', key, field, deadline)
  end
  if added == 1 then redis.call('HINCRBY', key, 'p', 1) end
  local latest = tonumber(redis.call('HGET', key, 'pu')) or 0
  if deadline > latest then redis.call('HSET', key, 'pu', deadline) end
  -- The entry outlives its marks (a persistent one stays persistent: a
  -- lapsed mark is found by the next script that reads it). A copy that
  -- was to expire sooner keeps that time in field "px", and gets it back
  -- when its last mark goes without a write (fence.lua).
  local ttl = redis.call('PTTL', key)
  if not existed then
    redis.call('PEXPIRE', key, lifetime)
  elseif ttl >= 0 and ttl < lifetime then
    if redis.call('HEXISTS', key, 'px') == 0 then
      redis.call('HSET', key, 'px', redis.call('PEXPIRETIME', key))
    end
    redis.call('PEXPIRE', key, lifetime)
  end
end
return #KEYS
