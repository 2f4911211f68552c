// Where the backends are: the Redis endpoint a URL names, and the checks and
// rewrites wtcached applies to PostgreSQL URLs. A malformed URL is a
// config_error naming the field it came from.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"

namespace wtcache {

struct redis_endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string user;      // ACL user (Redis 6+); empty: the default user
  std::string password;  // never logged
  int db = 0;
  // A Redis Cluster: host:port is the first of its seed nodes, any of which
  // tells the slot map; the others are tried in turn.
  bool cluster = false;
  std::vector<std::pair<std::string, uint16_t>> seeds;
};

// Parses redis://[[user]:password@]host[:port][/db], or for a Redis Cluster
// redis+cluster://[[user]:password@]host:port[,host:port...] (seed nodes;
// `cluster` makes a redis:// URL name one too, and its hosts may then be a
// list as well). Throws config_error(field).
redis_endpoint parse_redis_url(const std::string& url, const std::string& field,
                               bool cluster = false);
// The endpoint a configuration names ([redis] url and cluster).
redis_endpoint redis_endpoint_of(const config& cfg);
// Checks a PostgreSQL URL or key=value conninfo with libpq; throws config_error.
void check_postgres_url(const std::string& url, const std::string& field);
// The URL with connect_timeout and tcp_user_timeout added (unless it sets
// them): a PostgreSQL host that stops answering must not block a worker, or
// shutdown, for the kernel's TCP timeouts (many minutes).
std::string with_connection_timeouts(const std::string& url, std::chrono::milliseconds timeout);
// The URL with application_name set to `name` (unless it sets one), so that
// pg_stat_activity tells wtcached's connections, and what each is for, apart.
std::string with_application_name(const std::string& url, const std::string& name);
// The URL with any password replaced by "***", for logs and banners.
std::string redact_url(const std::string& url);
// A TCP port; 0 only where `zero_ok` (a listener: pick a free one).
uint16_t parse_port(const std::string& text, const std::string& field, bool zero_ok);

}  // namespace wtcache
