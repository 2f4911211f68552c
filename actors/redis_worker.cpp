#include "actors/redis_worker.hpp"

#include <hiredis/hiredis.h>

#include <caf/behavior.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "messages/atoms.hpp"
#include "messages/errors.hpp"

namespace wtcache {

// KEYS[1] the entry; ARGV: version, kind ("v" value | "t" tombstone), data, ttl in ms.
// Returns 1 when written, 0 when an entry at this or a newer version is there.
// A value at version V may replace a tombstone at V: the tombstone of a dirty
// key carries the version of the write whose cache update failed, and the
// row read back at that version is exactly what belongs in the cache. (A
// DEL's tombstone has a version of its own that no value ever carries.)
const char* const fence_script = R"lua(
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'hash' then
  local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1') or -1
  local new = tonumber(ARGV[1])
  if cur > new then return 0 end
  if cur == new and not (ARGV[2] == 'v' and redis.call('HGET', KEYS[1], 'k') == 't') then
    return 0
  end
elseif t ~= 'none' then
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'k', ARGV[2], 'd', ARGV[3])
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
return 1
)lua";

namespace {

struct reply_deleter {
  void operator()(redisReply* r) const {
    if (r)
      freeReplyObject(r);
  }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

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

caf::error redis_worker_state::connect() {
  if (ctx)
    return caf::none;
  ctx = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, to_timeval(timeout));
  if (!ctx || ctx->err) {
    std::string why = ctx ? ctx->errstr : "out of memory";
    disconnect();
    return make_error(ec::redis_unavailable, why);
  }
  redisSetTimeout(ctx, to_timeval(timeout));
  auto run = [&](std::vector<std::string> args) -> reply_ptr {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return reply_ptr(static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data())));
  };
  auto failed = [&](const reply_ptr& r, const char* what) -> caf::error {
    std::string why = !r ? std::string(ctx->errstr)
                         : std::string(what) + ": " + std::string(r->str ? r->str : "");
    disconnect();
    return make_error(ec::redis_unavailable, why);
  };
  if (!endpoint.password.empty()) {
    auto r = endpoint.user.empty() ? run({"AUTH", endpoint.password})
                                   : run({"AUTH", endpoint.user, endpoint.password});
    if (!r || r->type == REDIS_REPLY_ERROR)
      return failed(r, "AUTH");
  }
  if (endpoint.db != 0) {
    auto r = run({"SELECT", std::to_string(endpoint.db)});
    if (!r || r->type == REDIS_REPLY_ERROR)
      return failed(r, "SELECT");
  }
  auto r = run({"SCRIPT", "LOAD", fence_script});
  if (!r || r->type != REDIS_REPLY_STRING)
    return failed(r, "SCRIPT LOAD");
  fence_sha.assign(r->str, r->len);
  return caf::none;
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
    void* raw = nullptr;
    if (redisGetReply(ctx, &raw) != REDIS_OK) {
      std::string why = ctx->errstr;
      disconnect();
      return make_error(ec::redis_unavailable, why);
    }
    reply_ptr r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR)
      continue;  // e.g. WRONGTYPE: treat as absent, the fence script replaces it
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
      continue;
    auto* v = r->element[0];
    auto* k = r->element[1];
    auto* d = r->element[2];
    if (v->type != REDIS_REPLY_STRING || k->type != REDIS_REPLY_STRING)
      continue;
    e.present = true;
    e.version = std::strtoll(v->str, nullptr, 10);
    e.tombstone = k->len == 1 && k->str[0] == 't';
    if (d->type == REDIS_REPLY_STRING)
      e.data.assign(d->str, d->len);
  }
  return out;
}

caf::expected<std::vector<cache_write_result>>
redis_worker_state::write(const std::vector<cache_write>& writes) {
  if (auto err = connect())
    return err;
  std::vector<cache_write_result> out(writes.size(), cache_write_result::failed);
  std::vector<std::size_t> retry;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<std::size_t> todo;
    if (attempt == 0)
      for (std::size_t i = 0; i < writes.size(); ++i)
        todo.push_back(i);
    else
      todo.swap(retry);
    if (todo.empty())
      break;
    for (auto i : todo) {
      auto& w = writes[i];
      auto version = std::to_string(w.version);
      auto ttl = std::to_string(w.ttl_ms);
      const char* argv[] = {"EVALSHA",        fence_sha.data(), "1",
                            w.redis_key.data(), version.data(),  w.tombstone ? "t" : "v",
                            w.data.data(),    ttl.data()};
      size_t lens[] = {7, fence_sha.size(), 1, w.redis_key.size(), version.size(), 1,
                       w.data.size(), ttl.size()};
      redisAppendCommandArgv(ctx, 8, argv, lens);
    }
    for (auto i : todo) {
      void* raw = nullptr;
      if (redisGetReply(ctx, &raw) != REDIS_OK) {
        std::string why = ctx->errstr;
        disconnect();
        return make_error(ec::redis_unavailable, why);
      }
      reply_ptr r(static_cast<redisReply*>(raw));
      if (r->type == REDIS_REPLY_INTEGER) {
        out[i] = r->integer == 1 ? cache_write_result::applied : cache_write_result::fenced;
      } else if (r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).rfind("NOSCRIPT", 0) == 0) {
        retry.push_back(i);  // the script cache was flushed: load it again below
      } else {
        spdlog::warn("redis: fenced write of {} failed: {}", writes[i].redis_key,
                     r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "unexpected reply");
      }
    }
    if (!retry.empty()) {
      reply_ptr r(static_cast<redisReply*>(redisCommand(ctx, "SCRIPT LOAD %s", fence_script)));
      if (!r || r->type != REDIS_REPLY_STRING) {
        disconnect();
        return make_error(ec::redis_unavailable, "cannot load the fence script");
      }
      fence_sha.assign(r->str, r->len);
    }
  }
  return out;
}

redis_worker_actor::behavior_type
redis_worker(redis_worker_actor::stateful_pointer<redis_worker_state> self, redis_endpoint ep,
             std::chrono::milliseconds timeout) {
  self->state.endpoint = std::move(ep);
  self->state.timeout = timeout;
  return {
    [=](atom::get, const std::vector<std::string>& keys,
        int64_t deadline) -> caf::result<std::vector<cache_entry>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      auto res = self->state.read(keys);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [=](atom::put, const std::vector<cache_write>& writes,
        int64_t deadline) -> caf::result<std::vector<cache_write_result>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      auto res = self->state.write(writes);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
  };
}

}  // namespace wtcache
