// Where the backends are: the Redis endpoint a URL names, and the checks and
// rewrites wtcached applies to PostgreSQL URLs. A malformed URL is a
// config_error naming the field it came from.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/config.hpp"

namespace wtcache {

struct redis_endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string user;      // ACL user (Redis 6+); empty: the default user
  std::string password;  // never logged
  int db = 0;
};

// Parses redis://[[user]:password@]host[:port][/db]; throws config_error(field).
redis_endpoint parse_redis_url(const std::string& url, const std::string& field);
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
