// The Redis worker: owns one Redis connection (backends/redis_connection.hpp)
// and serves the cache calls of backends/redis_cache.hpp over it. hiredis
// blocks, so it is always spawned detached. Reads that arrive while a round
// is being gathered share one pipelined round trip.
// Protocol: messages/cache_protocol.hpp.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>


#include "core/logger_ref.hpp"
#include "backends/endpoints.hpp"
#include "backends/redis_connection.hpp"
#include "core/latency.hpp"
#include "messages/cache_protocol.hpp"

namespace wtcache {

struct redis_worker_settings {
  redis_endpoint endpoint;
  std::chrono::milliseconds timeout{1000};   // each call's, connecting included
  std::shared_ptr<service_metrics> metrics;  // null: reports none
  logger_ref log;  // where it logs (config::logger)
};

struct redis_worker_state {
  static inline const char* name = "redis_worker";

  std::shared_ptr<service_metrics> metrics;
  logger_ref log;
  redis_connection redis;

  // Reads waiting for this round's pipeline: the worker sends itself a
  // flush when the first arrives, so that every read already in its mailbox
  // by then shares one round trip to Redis.
  struct pending_read {
    std::vector<std::string> keys;
    caf::typed_response_promise<std::vector<cache_entry>> promise;
    int64_t deadline;
  };
  std::vector<pending_read> reads;
};

redis_worker_actor::behavior_type
redis_worker(redis_worker_actor::stateful_pointer<redis_worker_state> self,
             redis_worker_settings cfg);

}  // namespace wtcache
