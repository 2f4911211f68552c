// The Redis worker: owns one hiredis connection and is the only code that
// talks to Redis. hiredis calls block, so it is always spawned detached.
// Each request's commands go out pipelined in one round trip. Cache entries
// are hashes {v: version, k: "v"|"t" (value|tombstone), d: data} written only
// through the fence script, which refuses to move an entry to an older version.
// Protocol: messages/cache_protocol.hpp.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "app/config.hpp"
#include "messages/cache_protocol.hpp"

struct redisContext;

namespace wtcache {

struct redis_worker_state {
  static inline const char* name = "redis_worker";

  redis_endpoint endpoint;
  std::chrono::milliseconds timeout{1000};
  redisContext* ctx = nullptr;
  std::string fence_sha;

  ~redis_worker_state();

  caf::expected<std::vector<cache_entry>> read(const std::vector<std::string>& keys);
  caf::expected<std::vector<cache_write_result>> write(const std::vector<cache_write>& writes);

  // Connects unless connected: AUTH, SELECT, loads the fence script.
  caf::error connect();

private:
  void disconnect();
};

redis_worker_actor::behavior_type
redis_worker(redis_worker_actor::stateful_pointer<redis_worker_state> self, redis_endpoint ep,
             std::chrono::milliseconds timeout);

// The fence script's source, exposed for tests.
extern const char* const fence_script;

}  // namespace wtcache
