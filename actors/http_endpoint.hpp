// The HTTP endpoint operators watch the node through (default
// 127.0.0.1:9380, [http] listen; off when empty):
//   GET /metrics  the Prometheus text exposition format (core/prometheus.hpp)
//   GET /healthz  200 while the process runs
//   GET /readyz   200 when both backends answer a probe (Redis INFO,
//                 PostgreSQL SELECT 1; sent to every worker, the first answer
//                 counts) and both circuit breakers are closed; else 503.
//                 The JSON body says which check failed and why. A backend
//                 that answers closes its half-open breaker (that answer is
//                 the probe the breaker waits for).
// It also reads Redis's used_memory and evicted_keys every few seconds for
// /metrics. A broker on CAF's multiplexer thread: each request is small and
// answered at once, except /readyz, which waits for its probes (each with a
// deadline). One request per connection (Connection: close); HEAD too.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <caf/io/broker.hpp>
#include <caf/io/connection_handle.hpp>
#include <caf/stateful_actor.hpp>


#include "core/logger_ref.hpp"
#include "actors/worker_directory.hpp"
#include "core/config.hpp"
#include "core/latency.hpp"
#include "core/node_health.hpp"

namespace wtcache {

struct http_settings {
  std::string host = "127.0.0.1";
  uint16_t port = 9380;  // 0: any free port
  std::shared_ptr<service_metrics> metrics;
  std::shared_ptr<node_health> health;
  std::shared_ptr<worker_directory> directory;
  // How long /readyz waits for a backend's answer (kept short: readiness
  // probes have timeouts of a second or so).
  std::chrono::milliseconds probe_timeout{800};
  std::chrono::milliseconds redis_info_every{5000};
  logger_ref log;  // where it logs (config::logger)
};

// The settings the configuration decides. Left to the caller: the figures,
// node health and the worker directory.
http_settings http_settings_from(const config& cfg);

struct http_state {
  static inline const char* name = "http_endpoint";
  http_settings cfg;
  uint16_t port = 0;
  struct client {
    std::string request;  // bytes so far, up to the end of the headers
    std::chrono::steady_clock::time_point opened;
    uint64_t serial = 0;      // handles are socket numbers, reused: this is not
    bool dispatched = false;  // its request is being answered; more bytes are ignored
  };
  std::map<caf::io::connection_handle, client> clients;
  uint64_t next_serial = 1;
  uint64_t next_probe = 0;
  bool sweep_armed = false;
};

using http_self = caf::io::stateful_broker<http_state>;

// (atom::get) -> uint16_t answers the bound port, or the error that kept it
// from binding.
caf::behavior http_endpoint(http_self* self, http_settings cfg);

// The head of a request, from the bytes received so far; pure, for tests
// and the fuzzer. Where the head ends (at the empty line, CRLF CRLF or LF
// LF), or npos while it has not come; the first `searched` bytes were
// looked at before.
std::size_t http_head_end(const std::string& received, std::size_t searched);
// Its request line, METHOD SP target SP HTTP/..., with the query dropped
// from the target; nullopt when malformed.
struct http_request_line {
  std::string method, path;
};
std::optional<http_request_line> parse_request_line(const std::string& head);

// The response to one request line; pure, for tests. `ready_body` is left
// to the caller (readiness needs the probes): answered with status 0.
struct http_response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};
http_response route(const std::string& method, const std::string& path,
                    const service_metrics& m, const node_health& h);
// The whole response; without the body for HEAD.
std::string http_message(const http_response& r, bool head = false);

}  // namespace wtcache
