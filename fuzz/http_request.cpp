// libFuzzer: the HTTP endpoint's request parsing (actors/http_endpoint.hpp),
// as its bytes arrive: the head's end found read by read is where it is in
// the whole input, and any request line is routed and answered.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "actors/http_endpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t chunk = 1 + data[0] % 11;
  auto whole = wtcache::http_head_end(input, 0);
  std::string received;
  std::size_t end = std::string::npos;
  for (std::size_t at = 0; at < input.size() && end == std::string::npos; at += chunk) {
    auto searched = received.size();
    received.append(input, at, chunk);
    end = wtcache::http_head_end(received, searched);
  }
  if (end != whole)
    std::abort();
  static wtcache::service_metrics metrics;
  static wtcache::node_health health;
  if (auto line = wtcache::parse_request_line(input.substr(0, whole))) {
    auto r = wtcache::route(line->method, line->path, metrics, health);
    if (r.status != 0 && wtcache::http_message(r, line->method == "HEAD").empty())
      std::abort();
  }
  return 0;
}
