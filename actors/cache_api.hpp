// The embedding API's actor (messages/cache_api.hpp): turns each typed
// request into the shard requests the matching Redis command makes, checked
// as that command is (core/commands.hpp), and answers with typed results.
// It holds no key state; the shards serialise and decide, as for RESP.
//
// Every request is answered within request_timeout: the shard requests
// carry it. When the service stops, the actor takes no new request
// (ec::stopped) and exits once those in flight are answered.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "core/commands.hpp"
#include "core/config.hpp"
#include "core/latency.hpp"
#include "core/namespaces.hpp"
#include "messages/cache_api.hpp"
#include "messages/shard_protocol.hpp"

namespace wtcache {

struct cache_api_settings {
  std::vector<shard_actor> shards;
  std::shared_ptr<const namespace_table> spaces;
  std::shared_ptr<service_metrics> metrics;
  command_limits limits;
  std::chrono::milliseconds request_timeout{5000};
};

// The settings the configuration decides. Left to the caller: the shards,
// the namespaces and the figures.
cache_api_settings cache_api_settings_from(const config& cfg);

struct cache_api_state {
  static inline const char* name = "cache_api";
  cache_api_settings cfg;
  uint64_t in_flight = 0;  // requests sent to shards, not answered yet
  bool stopping = false;
};

cache_actor::behavior_type cache_api(cache_actor::stateful_pointer<cache_api_state> self,
                                     cache_api_settings cfg);

}  // namespace wtcache
