// INFO's text, in Redis's format (sections of "field:value" lines), from the
// service's statistics and node health: what a Redis client or redis-cli
// shows. Pure, beside the Prometheus writer that renders the same figures.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/latency.hpp"
#include "core/node_health.hpp"

namespace wtcache {

// The Redis version wtcached answers as (INFO, HELLO): the one whose
// replies and error texts it follows.
inline constexpr const char* redis_version = "7.0.0";

struct info_sources {
  const service_metrics* metrics;
  const node_health* health;
  std::chrono::steady_clock::time_point started;  // for uptime_in_seconds
  uint16_t port = 0;                              // the RESP listener's
  std::size_t shards = 0;
};

// `section` as INFO takes it: empty, "all", "default" or "everything", or
// one section's name (server, stats, backends, namespaces, commandstats,
// latencystats, write-behind).
std::string info_text(const info_sources& in, const std::string& section);

}  // namespace wtcache
