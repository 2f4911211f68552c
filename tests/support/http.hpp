// HTTP and Prometheus helpers for tests of wtcached's HTTP endpoint.
#pragma once

#include <cstdint>
#include <string>

namespace wtcache::test {

struct http_reply {
  int status = 0;  // 0: no answer
  std::string headers, body;
};

// One request over a fresh connection, read until the server closes it.
http_reply http_request(uint16_t port, const std::string& method, const std::string& path);
inline http_reply http_get(uint16_t port, const std::string& path) {
  return http_request(port, "GET", path);
}

// The value of one series in Prometheus text, given exactly as it appears
// before the value (e.g. `wtcache_cache_hits_total{namespace="wtcache_kv"}`);
// -1 when the series is not there.
double metric(const std::string& text, const std::string& series);

// `promtool check metrics` over `text`: its exit status, and what it printed
// into `output`.
int promtool_check_metrics(const std::string& text, std::string& output);

}  // namespace wtcache::test
