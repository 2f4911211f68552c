// The service's figures in the Prometheus text exposition format (version
// 0.0.4), as /metrics serves them. Pure: renders a snapshot of the
// statistics and the node's health, so it is unit-tested without an HTTP
// server.
#pragma once

#include <chrono>
#include <string>

#include "core/latency.hpp"
#include "core/node_health.hpp"

namespace wtcache {

std::string prometheus_text(const service_metrics& m, const node_health& h,
                            std::chrono::steady_clock::time_point now);

}  // namespace wtcache
