#include "actors/redis_worker.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <caf/behavior.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "messages/atoms.hpp"
#include "core/namespaces.hpp"
#include "core/resp.hpp"
#include "messages/errors.hpp"

namespace wtcache {

// KEYS: the entries; ARGV: four per entry: version, kind ("v" value | "t"
// tombstone), data, ttl in ms. Returns one integer per entry: 1 when
// written, 0 when an entry at this or a newer version is there. One call
// takes a whole round of writes: per call, EVALSHA costs Redis more than the
// fence itself.
// A value at version V may replace a tombstone at V: the tombstone of a dirty
// key carries the version of the write whose cache update failed, and the
// row read back at that version is exactly what belongs in the cache. (A
// DEL's tombstone has a version of its own that no value ever carries.)
const char* const fence_script = R"lua(
local out = {}
for i = 1, #KEYS do
  local key, a = KEYS[i], (i - 1) * 4
  local new, kind = tonumber(ARGV[a + 1]), ARGV[a + 2]
  local cur = redis.pcall('HMGET', key, 'v', 'k')
  local write = true
  if cur.err then
    redis.call('DEL', key)  -- not a hash: some other program's key
  elseif cur[1] then
    local v = tonumber(cur[1]) or -1
    write = v < new or (v == new and kind == 'v' and cur[2] == 't')
  end
  if write then
    redis.call('HSET', key, 'v', ARGV[a + 1], 'k', kind, 'd', ARGV[a + 3])
    local ttl = tonumber(ARGV[a + 4])
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
)lua";

// Write-behind commands (see messages/cache_protocol.hpp). KEYS[1] the
// version clock, KEYS[2] a scratch key for INCRBY arithmetic. ARGV[1] the
// number of ops, then 16 fields per op: group, kind (s|d|i), client key,
// value, delta, ttl, entry, stream, stats, max entries, max bytes, low
// entries, low bytes, loaded (0 no, 1 found, 2 absent), loaded value, loaded
// row's version.
// Returns 4 strings per op: status, version, count, error.
//
// A command is planned on a copy first and applied only when every op can
// be: a refused command changes nothing. Versions come from Redis's clock in
// microseconds, above the last one issued and above the entry's, so they
// keep growing even if Redis loses its data. Pending entries have no TTL
// (pinned): an eviction policy that spares keys without a TTL cannot drop a
// value that has not reached PostgreSQL yet.
const char* const enqueue_script = R"lua(
local F = 16
local n = tonumber(ARGV[1])
local function arg(i, f) return ARGV[1 + (i - 1) * F + f] end
local function fmt(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local clock = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local out = {}
local stats, entries = {}, {}
local function stat(key)
  local s = stats[key]
  if not s then
    local r = redis.call('HMGET', key, 'n', 'b', 'full')
    s = {n = tonumber(r[1] or '0'), b = tonumber(r[2] or '0'), full = r[3] == '1'}
    s.bad = s.n == nil or s.b == nil
    stats[key] = s
  end
  return s
end
local function entry(key)
  local e = entries[key]
  if not e then
    local r = redis.pcall('HMGET', key, 'v', 'k', 'd')
    if r.err then e = {v = 0, wrong = true}
    elseif r[1] then e = {k = r[2], v = tonumber(r[1]) or 0, d = r[3] or ''}
    else e = {v = 0} end
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
    local kind, key = arg(x, 2), arg(x, 7)
    if wrong_kind(arg(x, 8), 'stream') or wrong_kind(arg(x, 9), 'hash') or
       (not wrong_kind(arg(x, 9), 'hash') and stat(arg(x, 9)).bad) then
      status, err = 'refused', 'ERR the write-behind queue keys ' .. arg(x, 8) .. ' / ' ..
        arg(x, 9) .. ' hold something else; wtcached will not overwrite them'
      break
    end
    if not view[key] then
      local e = entry(key)
      view[key] = {k = e.k, d = e.d}
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
      redis.call('SET', KEYS[2], present and value or '0')
      local r = redis.pcall('INCRBY', KEYS[2], arg(x, 5))
      local nv = redis.call('GET', KEYS[2])
      redis.call('DEL', KEYS[2])
      if type(r) == 'table' and r.err then status, err = 'refused', r.err
      else p.op, p.data, p.count = 's', nv, nv end
    end
    plan[x] = p
    if p.op then
      e.k, e.d = (p.op == 'd') and 'x' or 'v', p.data
      local sk = arg(x, 9)
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
      local p, key = plan[x], arg(x, 7)
      local e = entry(key)
      local floor = e.v
      if (e.k == nil or e.k == 't') and arg(x, 14) ~= '0' then
        floor = math.max(floor, tonumber(arg(x, 16)) or 0)
      end
      local v = math.max(clock + 1, now, floor + 1)
      clock = v
      local vs = fmt(v)
      if e.wrong then redis.call('DEL', key); e.wrong = false end
      local k = (p.op == 'd') and 'x' or 'v'
      redis.call('HSET', key, 'v', vs, 'k', k, 'd', p.data)
      redis.call('PERSIST', key)
      e.k, e.v, e.d = k, v, p.data
      local bytes = #arg(x, 3) + #p.data
      redis.call('XADD', arg(x, 8), '*', 'k', arg(x, 3), 'v', vs, 'o', p.op, 'd', p.data,
                 't', arg(x, 6), 'b', tostring(bytes))
      local s = stat(arg(x, 9))
      s.n, s.b = s.n + 1, s.b + bytes
      redis.call('HINCRBY', arg(x, 9), 'n', 1)
      redis.call('HINCRBY', arg(x, 9), 'b', bytes)
      result('done', vs, p.count, '')
    elseif status == 'needs_load' then
      result(loads[x] and 'needs_load' or 'not_run', '0', '0', '')
    else
      result(status, '0', '0', err)
    end
  end
  i = j
end
redis.call('SET', KEYS[1], fmt(clock))
return out
)lua";

// After a write-behind batch committed. ARGV: stream, group, stats, tombstone
// TTL, number of ids, then (id, bytes) per stream entry, then (entry,
// version, action, ttl, normalised?, normalised value) per key. Acknowledges
// and deletes the entries, takes them off the queue's counters (once, even if
// run again), and unpins each entry still at the version just persisted:
// action "u" gives it its TTL back (and jsonb's normalised text), action "t"
// (dead letter) makes it a tombstone so reads go to the database.
const char* const settle_script = R"lua(
local stream, group, stats = ARGV[1], ARGV[2], ARGV[3]
local tomb_ttl = tonumber(ARGV[4])
local nids = tonumber(ARGV[5])
local acked, bytes = 0, 0
local p = 6
for i = 1, nids do
  if redis.call('XACK', stream, group, ARGV[p]) == 1 then
    acked = acked + 1
    bytes = bytes + tonumber(ARGV[p + 1])
  end
  redis.call('XDEL', stream, ARGV[p])
  p = p + 2
end
if acked > 0 then
  redis.call('HINCRBY', stats, 'n', -acked)
  redis.call('HINCRBY', stats, 'b', -bytes)
end
while p <= #ARGV do
  local key, v, action, ttl = ARGV[p], ARGV[p + 1], ARGV[p + 2], tonumber(ARGV[p + 3])
  local has, norm = ARGV[p + 4], ARGV[p + 5]
  p = p + 6
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
)lua";

void redis_reply_deleter::operator()(redisReply* r) const {
  if (r)
    freeReplyObject(r);
}

namespace {

using reply_ptr = redis_reply;

const char* script_source(redis_script s) {
  switch (s) {
    case redis_script::fence: return fence_script;
    case redis_script::enqueue: return enqueue_script;
    case redis_script::settle: return settle_script;
  }
  return "";
}

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

bool expired(int64_t deadline_ns) {
  return std::chrono::steady_clock::now().time_since_epoch().count() > deadline_ns;
}

}  // namespace

redis_worker_state::~redis_worker_state() { disconnect(); }

void redis_worker_state::disconnect() {
  if (ctx) {
    redisFree(ctx);
    ctx = nullptr;
  }
}

namespace {

void append_command(redisContext* ctx, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data());
}

// AUTH and SELECT on a new connection; a failure is returned with its reason.
caf::error prepare(redisContext* ctx, const redis_endpoint& ep) {
  auto run = [&](const std::vector<std::string>& args) -> reply_ptr {
    append_command(ctx, args);
    void* raw = nullptr;
    if (redisGetReply(ctx, &raw) != REDIS_OK)
      return nullptr;
    return reply_ptr(static_cast<redisReply*>(raw));
  };
  auto failed = [&](const reply_ptr& r, const char* what) -> caf::error {
    std::string why = !r ? std::string(ctx->errstr)
                         : std::string(what) + ": " + std::string(r->str ? r->str : "");
    return make_error(ec::redis_unavailable, why);
  };
  if (!ep.password.empty()) {
    auto r = ep.user.empty() ? run({"AUTH", ep.password}) : run({"AUTH", ep.user, ep.password});
    if (!r || r->type == REDIS_REPLY_ERROR)
      return failed(r, "AUTH");
  }
  if (ep.db != 0) {
    auto r = run({"SELECT", std::to_string(ep.db)});
    if (!r || r->type == REDIS_REPLY_ERROR)
      return failed(r, "SELECT");
  }
  return caf::none;
}

redisContext* connect_to(const redis_endpoint& ep, std::chrono::milliseconds timeout,
                         caf::error& err) {
  auto* ctx = redisConnectWithTimeout(ep.host.c_str(), ep.port, to_timeval(timeout));
  if (!ctx || ctx->err) {
    err = make_error(ec::redis_unavailable, ctx ? ctx->errstr : "out of memory");
    if (ctx)
      redisFree(ctx);
    return nullptr;
  }
  redisSetTimeout(ctx, to_timeval(timeout));
  if ((err = prepare(ctx, ep))) {
    redisFree(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

caf::error redis_worker_state::connect() {
  if (ctx)
    return caf::none;
  caf::error err;
  ctx = connect_to(endpoint, timeout, err);
  if (!ctx)
    return err;
  for (auto sc : {redis_script::fence, redis_script::enqueue, redis_script::settle}) {
    append({"SCRIPT", "LOAD", script_source(sc)});
    void* raw = nullptr;
    reply_ptr r;
    if (redisGetReply(ctx, &raw) == REDIS_OK)
      r.reset(static_cast<redisReply*>(raw));
    if (!r || r->type != REDIS_REPLY_STRING) {
      std::string why = !r ? std::string(ctx->errstr)
                           : std::string("SCRIPT LOAD: ") + std::string(r->str ? r->str : "");
      disconnect();
      return make_error(ec::redis_unavailable, why);
    }
    shas[static_cast<int>(sc)].assign(r->str, r->len);
  }
  return caf::none;
}

caf::expected<std::vector<int64_t>> redis_worker_state::info_figures() {
  std::vector<int64_t> out{-1, -1};
  int i = 0;
  for (const char* section : {"memory", "stats"}) {
    auto r = command({"INFO", section});
    if (!r)
      return r.error();
    if ((*r)->type != REDIS_REPLY_STRING)
      return make_error(ec::redis_error, "INFO answered with no text");
    auto value = resp::info_field(std::string_view((*r)->str, (*r)->len),
                                  i == 0 ? "used_memory" : "evicted_keys");
    if (!value.empty())
      out[i] = std::strtoll(value.c_str(), nullptr, 10);
    ++i;
  }
  return out;
}

caf::expected<int> redis_worker_state::open_socket() const {
  caf::error err;
  auto* c = connect_to(endpoint, timeout, err);
  if (!c)
    return err;
  // The shard's multiplexer never blocks on it.
  int fd = redisFreeKeepFd(c);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

caf::expected<redis_reply> redis_worker_state::command(const std::vector<std::string>& args,
                                                       bool* sent) {
  if (sent)
    *sent = false;
  if (auto err = connect())
    return err;
  append(args);
  if (sent)
    *sent = true;
  redis_reply r;
  if (auto err = next_reply(r))
    return err;
  return r;
}

void redis_worker_state::append(const std::vector<std::string>& args) {
  append_command(ctx, args);
}

caf::error redis_worker_state::next_reply(redis_reply& out) {
  void* raw = nullptr;
  if (redisGetReply(ctx, &raw) != REDIS_OK) {
    std::string why = ctx->errstr;
    disconnect();
    return make_error(ec::redis_unavailable, why);
  }
  out.reset(static_cast<redisReply*>(raw));
  return caf::none;
}

caf::expected<redis_reply> redis_worker_state::eval(redis_script sc,
                                                    const std::vector<std::string>& keys,
                                                    const std::vector<std::string>& args,
                                                    bool* sent) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto err = connect())
      return err;
    std::vector<std::string> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.push_back("EVALSHA");
    argv.push_back(shas[static_cast<int>(sc)]);
    argv.push_back(std::to_string(keys.size()));
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = command(argv, sent);
    if (!r)
      return r;
    auto& rep = *r;
    if (rep->type == REDIS_REPLY_ERROR &&
        std::string_view(rep->str, rep->len).rfind("NOSCRIPT", 0) == 0) {
      // The script cache was flushed (SCRIPT FLUSH, a restart): load it again.
      auto l = command({"SCRIPT", "LOAD", script_source(sc)});
      if (!l)
        return l;
      if ((*l)->type != REDIS_REPLY_STRING)
        return make_error(ec::redis_error, "cannot load a script");
      shas[static_cast<int>(sc)].assign((*l)->str, (*l)->len);
      continue;
    }
    return r;
  }
  return make_error(ec::redis_error, "the script cache keeps being flushed");
}

caf::expected<std::vector<queued_result>>
redis_worker_state::enqueue(const std::string& prefix, const std::vector<queued_write>& writes) {
  constexpr const char* kinds[] = {"s", "d", "i"};
  std::vector<std::string> args;
  args.reserve(1 + writes.size() * 16);
  args.push_back(std::to_string(writes.size()));
  for (auto& w : writes) {
    args.push_back(std::to_string(w.group));
    args.push_back(kinds[static_cast<int>(w.kind)]);
    args.push_back(w.key);
    args.push_back(w.value);
    args.push_back(std::to_string(w.delta));
    args.push_back(std::to_string(w.ttl_ms));
    args.push_back(w.redis_key);
    args.push_back(w.stream);
    args.push_back(w.stats);
    args.push_back(std::to_string(w.max_entries));
    args.push_back(std::to_string(w.max_bytes));
    args.push_back(std::to_string(w.low_entries));
    args.push_back(std::to_string(w.low_bytes));
    args.push_back(std::to_string(static_cast<int>(w.loaded)));
    args.push_back(w.loaded_value);
    args.push_back(std::to_string(w.loaded_version));
  }
  bool sent = false;
  auto r = eval(redis_script::enqueue, {version_clock(prefix), prefix + "wbscratch"}, args, &sent);
  if (!r) {
    // Once the call went out it may have run: nobody can say it did not.
    if (sent)
      return make_error(ec::outcome_unknown, "lost the connection to redis: " + error_detail(r.error()));
    return r.error();
  }
  auto& rep = *r;
  if (rep->type == REDIS_REPLY_ERROR)
    return make_error(ec::redis_error, std::string(rep->str, rep->len));
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4 * writes.size())
    return make_error(ec::redis_error, "unexpected reply from the enqueue script");
  auto str = [&](std::size_t i) {
    auto* e = rep->element[i];
    return e->type == REDIS_REPLY_STRING ? std::string(e->str, e->len) : std::string();
  };
  std::vector<queued_result> out(writes.size());
  for (std::size_t i = 0; i < writes.size(); ++i) {
    auto status = str(4 * i);
    auto& o = out[i];
    o.status = status == "done"         ? queued_status::done
               : status == "busy"       ? queued_status::busy
               : status == "refused"    ? queued_status::refused
               : status == "needs_load" ? queued_status::needs_load
                                        : queued_status::not_run;
    o.version = std::strtoll(str(4 * i + 1).c_str(), nullptr, 10);
    o.count = std::strtoll(str(4 * i + 2).c_str(), nullptr, 10);
    o.error = str(4 * i + 3);
  }
  return out;
}

caf::expected<std::vector<cache_entry>>
redis_worker_state::read(const std::vector<std::string>& keys) {
  if (auto err = connect())
    return err;
  for (auto& k : keys) {
    const char* argv[] = {"HMGET", k.data(), "v", "k", "d"};
    size_t lens[] = {5, k.size(), 1, 1, 1};
    redisAppendCommandArgv(ctx, 5, argv, lens);
  }
  std::vector<cache_entry> out(keys.size());
  for (auto& e : out) {
    reply_ptr r;
    if (auto err = next_reply(r))
      return err;
    if (r->type == REDIS_REPLY_ERROR)
      continue;  // e.g. WRONGTYPE: treat as absent, the fence script replaces it
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
      continue;
    auto* v = r->element[0];
    auto* k = r->element[1];
    auto* d = r->element[2];
    if (v->type != REDIS_REPLY_STRING || k->type != REDIS_REPLY_STRING)
      continue;
    e = cache_entry_of(std::string_view(v->str, v->len), std::string_view(k->str, k->len),
                       d->type == REDIS_REPLY_STRING ? std::string_view(d->str, d->len)
                                                     : std::string_view());
  }
  return out;
}

cache_entry cache_entry_of(std::string_view version, std::string_view kind,
                           std::string_view data) {
  cache_entry e;
  e.present = true;
  e.version = std::strtoll(std::string(version).c_str(), nullptr, 10);
  e.tombstone = kind == "t";
  e.deleted = kind == "x";
  e.data.assign(data);
  return e;
}

caf::expected<std::vector<cache_write_result>>
redis_worker_state::write(const std::vector<cache_write>& writes) {
  if (auto err = connect())
    return err;
  // Entries per script call: a call holds Redis up while it runs, and
  // Redis refuses a command beyond its query buffer limit (1 GiB).
  constexpr std::size_t per_call = 128;
  constexpr std::size_t bytes_per_call = 4 * 1024 * 1024;
  auto entries_in_call = [&](std::size_t first) {
    std::size_t n = 0, bytes = 0;
    while (first + n < writes.size() && n < per_call &&
           (n == 0 || bytes + writes[first + n].data.size() <= bytes_per_call))
      bytes += writes[first + n++].data.size();
    return n;
  };
  std::vector<cache_write_result> out(writes.size(), cache_write_result::failed);
  std::vector<std::size_t> retry;  // the first entry of each call to send again
  std::vector<std::string> numbers;  // versions and TTLs as text, two per entry
  auto send_call = [&](std::size_t first) {
    auto n = entries_in_call(first);
    auto& sha = shas[static_cast<int>(redis_script::fence)];
    auto count = std::to_string(n);
    std::vector<const char*> argv{"EVALSHA", sha.data(), count.data()};
    std::vector<size_t> lens{7, sha.size(), count.size()};
    numbers.clear();
    numbers.reserve(2 * n);
    for (std::size_t i = first; i < first + n; ++i) {
      argv.push_back(writes[i].redis_key.data());
      lens.push_back(writes[i].redis_key.size());
    }
    for (std::size_t i = first; i < first + n; ++i) {
      auto& w = writes[i];
      numbers.push_back(std::to_string(w.version));
      numbers.push_back(std::to_string(w.ttl_ms));
      auto& version = numbers[numbers.size() - 2];
      auto& ttl = numbers.back();
      argv.insert(argv.end(), {version.data(), w.tombstone ? "t" : "v", w.data.data(), ttl.data()});
      lens.insert(lens.end(), {version.size(), 1, w.data.size(), ttl.size()});
    }
    redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data());
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<std::size_t> calls;
    if (attempt == 0)
      for (std::size_t first = 0; first < writes.size(); first += entries_in_call(first))
        calls.push_back(first);
    else
      calls.swap(retry);
    if (calls.empty())
      break;
    for (auto first : calls)
      send_call(first);
    for (auto first : calls) {
      auto n = entries_in_call(first);
      reply_ptr r;
      if (auto err = next_reply(r))
        return err;
      if (r->type == REDIS_REPLY_ARRAY && r->elements == n) {
        for (std::size_t j = 0; j < n; ++j) {
          auto* e = r->element[j];
          out[first + j] = e->type != REDIS_REPLY_INTEGER ? cache_write_result::failed
                           : e->integer == 1                ? cache_write_result::applied
                                                            : cache_write_result::fenced;
        }
      } else if (r->type == REDIS_REPLY_ERROR &&
                 std::string_view(r->str, r->len).rfind("NOSCRIPT", 0) == 0) {
        retry.push_back(first);  // the script cache was flushed: load it again below
      } else {
        spdlog::warn("redis: {} fenced write(s) from {} on failed: {}", n,
                     writes[first].redis_key,
                     r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len)
                                                  : "unexpected reply");
      }
    }
    if (!retry.empty()) {
      reply_ptr r(static_cast<redisReply*>(redisCommand(ctx, "SCRIPT LOAD %s", fence_script)));
      if (!r || r->type != REDIS_REPLY_STRING) {
        disconnect();
        return make_error(ec::redis_unavailable, "cannot load the fence script");
      }
      shas[static_cast<int>(redis_script::fence)].assign(r->str, r->len);
    }
  }
  return out;
}

namespace {

using answer = std::pair<caf::typed_response_promise<std::vector<cache_entry>>,
                         caf::expected<std::vector<cache_entry>>>;

// The answers of one pipelined round. Most go to connections and shards,
// which are brokers: each one answered from this thread costs a write to
// the multiplexer's wake-up pipe and a read on the other side. Handed to the
// multiplexer thread as one job instead, they cost one pipe write between
// them, and each delivery there is a queue append.
void deliver_all(caf::actor_system& sys, std::vector<answer> answers) {
  auto deliver = [](std::vector<answer>& all) {
    for (auto& [promise, result] : all) {
      if (result)
        promise.deliver(std::move(*result));
      else
        promise.deliver(result.error());
    }
  };
  if (answers.size() < 2 || !sys.has_middleman()) {
    deliver(answers);
    return;
  }
  sys.middleman().backend().post(
    [all = std::move(answers), deliver]() mutable { deliver(all); });
}

}  // namespace

redis_worker_actor::behavior_type
redis_worker(redis_worker_actor::stateful_pointer<redis_worker_state> self, redis_endpoint ep,
             std::chrono::milliseconds timeout, std::shared_ptr<service_metrics> metrics) {
  self->state.metrics = std::move(metrics);
  self->state.endpoint = std::move(ep);
  self->state.timeout = timeout;
  return {
    [=](atom::get, std::vector<std::string>& keys,
        int64_t deadline) -> caf::result<std::vector<cache_entry>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      auto& reads = self->state.reads;
      if (reads.empty())
        self->send(self, atom::flush::value);
      reads.push_back({std::move(keys), self->make_response_promise<std::vector<cache_entry>>(),
                       deadline});
      return reads.back().promise;
    },
    [=](atom::flush) {
      auto reads = std::move(self->state.reads);
      self->state.reads.clear();
      std::vector<std::string> keys;
      std::vector<bool> live(reads.size());
      for (std::size_t i = 0; i < reads.size(); ++i) {
        live[i] = !expired(reads[i].deadline);
        if (live[i])
          keys.insert(keys.end(), reads[i].keys.begin(), reads[i].keys.end());
        else
          reads[i].promise.deliver(make_error(ec::timeout, "redis request expired in the queue"));
      }
      if (keys.empty())
        return;
      auto res = [&] {
        busy_call busy(self->state.metrics.get(), &service_metrics::redis_in_use,
                       &service_metrics::cache_read_latency);
        return self->state.read(keys);
      }();
      std::vector<answer> answers;
      answers.reserve(reads.size());
      std::size_t at = 0;
      for (std::size_t i = 0; i < reads.size(); ++i) {
        auto& r = reads[i];
        if (!live[i])
          continue;
        if (!res) {
          answers.push_back({std::move(r.promise), res.error()});
          continue;
        }
        std::vector<cache_entry> mine(std::make_move_iterator(res->begin() + at),
                                      std::make_move_iterator(res->begin() + at + r.keys.size()));
        at += r.keys.size();
        answers.push_back({std::move(r.promise), std::move(mine)});
      }
      deliver_all(self->system(), std::move(answers));
    },
    [=](atom::probe, int64_t deadline) -> caf::result<std::vector<int64_t>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      auto res = self->state.info_figures();
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [=](atom::open, int64_t deadline) -> caf::result<int32_t> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      auto fd = self->state.open_socket();
      if (!fd)
        return std::move(fd.error());
      if (expired(deadline)) {
        ::close(*fd);
        return make_error(ec::timeout, "redis connection opened too late");
      }
      return static_cast<int32_t>(*fd);
    },
    [=](atom::put, const std::vector<cache_write>& writes,
        int64_t deadline) -> caf::result<std::vector<cache_write_result>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      auto* m = self->state.metrics.get();
      busy_call busy(m, &service_metrics::redis_in_use, &service_metrics::cache_write_latency);
      auto res = self->state.write(writes);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [=](atom::enqueue, const std::string& prefix, const std::vector<queued_write>& writes,
        int64_t deadline) -> caf::result<std::vector<queued_result>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue; nothing was written");
      auto* m = self->state.metrics.get();
      busy_call busy(m, &service_metrics::redis_in_use, &service_metrics::cache_write_latency);
      auto res = self->state.enqueue(prefix, writes);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
  };
}

}  // namespace wtcache
