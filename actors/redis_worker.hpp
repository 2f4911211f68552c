// The Redis worker: owns one hiredis connection and is the only code that
// talks to Redis. hiredis calls block, so it is always spawned detached.
// Each request's commands go out pipelined in one round trip. Cache entries
// are hashes {v: version, k: "v"|"t" (value|tombstone), d: data} written only
// through the fence script, which refuses to move an entry to an older version.
// Protocol: messages/cache_protocol.hpp.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/typed_response_promise.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "app/config.hpp"
#include "core/latency.hpp"
#include "messages/cache_protocol.hpp"

struct redisContext;
struct redisReply;

namespace wtcache {

struct redis_reply_deleter {
  void operator()(redisReply* r) const;
};
using redis_reply = std::unique_ptr<redisReply, redis_reply_deleter>;

// The Lua scripts wtcached runs, loaded at connect and called by EVALSHA.
enum class redis_script : uint8_t { fence, enqueue, settle };

struct redis_worker_state {
  static inline const char* name = "redis_worker";

  redis_endpoint endpoint;
  std::chrono::milliseconds timeout{1000};
  std::shared_ptr<service_metrics> metrics;  // null: reports none
  redisContext* ctx = nullptr;
  std::string shas[3];  // by redis_script

  // Reads waiting for this round's pipeline: the worker sends itself a
  // flush when the first arrives, so that every read already in its mailbox
  // by then shares one round trip to Redis.
  struct pending_read {
    std::vector<std::string> keys;
    caf::typed_response_promise<std::vector<cache_entry>> promise;
    int64_t deadline;
  };
  std::vector<pending_read> reads;

  ~redis_worker_state();

  caf::expected<std::vector<cache_entry>> read(const std::vector<std::string>& keys);
  caf::expected<std::vector<cache_write_result>> write(const std::vector<cache_write>& writes);
  // Write-behind commands through the enqueue script; keys under `prefix`.
  caf::expected<std::vector<queued_result>> enqueue(const std::string& prefix,
                                                    const std::vector<queued_write>& writes);

  // Connects unless connected: AUTH, SELECT, loads the scripts.
  caf::error connect();
  // {used_memory, evicted_keys} from INFO (-1 for one not found).
  caf::expected<std::vector<int64_t>> info_figures();
  // A new connection (AUTH, SELECT) of its own, as a non-blocking socket.
  caf::expected<int> open_socket() const;

  // One command; an error reply is returned as a reply, a lost connection
  // as ec::redis_unavailable (`sent` tells whether the command went out).
  caf::expected<redis_reply> command(const std::vector<std::string>& args, bool* sent = nullptr);
  // EVALSHA of one of the scripts (loading it again after a SCRIPT FLUSH).
  caf::expected<redis_reply> eval(redis_script s, const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args, bool* sent = nullptr);

  void disconnect();

private:
  // Queues one command on the connection (pipelined until its reply is read).
  void append(const std::vector<std::string>& args);
  // The next reply, or ec::redis_unavailable (and the connection dropped).
  caf::error next_reply(redis_reply& out);
};

redis_worker_actor::behavior_type
redis_worker(redis_worker_actor::stateful_pointer<redis_worker_state> self, redis_endpoint ep,
             std::chrono::milliseconds timeout, std::shared_ptr<service_metrics> metrics);

// A cache entry from the fields v, k and d of its hash (read by HMGET; v and
// k are there, d may not be).
cache_entry cache_entry_of(std::string_view version, std::string_view kind,
                           std::string_view data);

// The scripts' sources, exposed for tests.
extern const char* const fence_script;
extern const char* const enqueue_script;
extern const char* const settle_script;

}  // namespace wtcache
