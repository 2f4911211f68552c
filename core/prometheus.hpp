// The service's figures in the Prometheus text exposition format (version
// 0.0.4), as /metrics serves them. Pure: renders a snapshot of
// service_metrics, so it is unit-tested without an HTTP server.
#pragma once

#include <chrono>
#include <string>

#include "core/latency.hpp"

namespace wtcache {

std::string prometheus_text(const service_metrics& m, std::chrono::steady_clock::time_point now);

}  // namespace wtcache
