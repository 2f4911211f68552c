// Redis URL parsing and the PostgreSQL URL checks and rewrites.
#include "backends/endpoints.hpp"

#include <algorithm>
#include <charconv>

#include <libpq-fe.h>

namespace wtcache {

// A TCP port; 0 only where `zero_ok` (listen: pick a free one).
uint16_t parse_port(const std::string& text, const std::string& field, bool zero_ok) {
  unsigned port = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || p != text.data() + text.size() || port > 65535 ||
      (port == 0 && !zero_ok))
    throw config_error(field, "invalid port \"" + text + "\"");
  return static_cast<uint16_t>(port);
}

redis_endpoint parse_redis_url(const std::string& url, const std::string& field, bool cluster) {
  redis_endpoint ep;
  std::string rest;
  if (url.rfind("redis://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("redis+cluster://", 0) == 0) {
    rest = url.substr(16);
    cluster = true;
  } else {
    throw config_error(field, "expected redis://[:password@]host[:port][/db] or "
                              "redis+cluster://[:password@]host:port[,host:port...]");
  }
  ep.cluster = cluster;
  auto at = rest.rfind('@');
  if (at != std::string::npos) {
    auto cred = rest.substr(0, at);
    auto colon = cred.find(':');
    if (colon == std::string::npos) {
      ep.password = cred;
    } else {
      ep.user = cred.substr(0, colon);  // Redis 6 ACL user; empty means "default"
      ep.password = cred.substr(colon + 1);
    }
    rest = rest.substr(at + 1);
  }
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    auto db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), ep.db);
      if (ec != std::errc{} || p != db.data() + db.size() || ep.db < 0)
        throw config_error(field, "invalid database number \"" + db + "\"");
    }
  }
  if (cluster && ep.db != 0)
    throw config_error(field, "a Redis Cluster has only database 0");
  std::size_t start = 0;
  do {
    auto comma = rest.find(',', start);
    auto host = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? rest.size() + 1 : comma + 1;
    uint16_t port = 6379;
    auto colon = host.rfind(':');
    if (colon != std::string::npos) {
      port = parse_port(host.substr(colon + 1), field, false);
      host = host.substr(0, colon);
    }
    if (host.empty())
      throw config_error(field, "missing host");
    ep.seeds.emplace_back(host, port);
  } while (start <= rest.size());
  if (ep.seeds.size() > 1 && !cluster)
    throw config_error(field, "names several hosts; a Redis Cluster's seed nodes need "
                              "redis+cluster:// or [redis] cluster = true");
  ep.host = ep.seeds.front().first;
  ep.port = ep.seeds.front().second;
  return ep;
}

redis_endpoint redis_endpoint_of(const config& cfg) {
  return parse_redis_url(cfg.redis_url, "redis.url", cfg.redis_cluster);
}

void check_postgres_url(const std::string& url, const std::string& field) {
  if (url.rfind("postgres://", 0) != 0 && url.rfind("postgresql://", 0) != 0)
    throw config_error(field, "expected postgresql://user@host:port/dbname");
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (!opts) {
    // libpq's message may quote the URL, password included: say less.
    if (err)
      PQfreemem(err);
    throw config_error(field, "libpq cannot parse this URL (expected "
                              "postgresql://user[:password]@host:port/dbname[?param=value])");
  }
  std::string bad_port;
  for (auto* o = opts; o->keyword; ++o) {
    if (std::string(o->keyword) == "port" && o->val) {
      std::string port = o->val;
      bool ok = !port.empty() && port.find_first_not_of("0123456789,") == std::string::npos;
      if (!ok)
        bad_port = port;
    }
  }
  PQconninfoFree(opts);
  if (!bad_port.empty())
    throw config_error(field, "invalid port \"" + bad_port + "\"");
}

namespace {

// The URL with `key=value` added as a query parameter, unless it has one.
std::string with_parameter(std::string url, const std::string& key, const std::string& value) {
  if (url.find(key + "=") != std::string::npos)
    return url;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
}

}  // namespace

std::string with_connection_timeouts(const std::string& url, std::chrono::milliseconds timeout) {
  // libpq (15) counts connect_timeout in whole seconds of time(): N waits
  // between N - 1 and N seconds, so one more second than the timeout.
  auto out = with_parameter(url, "connect_timeout",
                            std::to_string(std::max<long long>(2, (timeout.count() + 999) / 1000) + 1));
  return with_parameter(out, "tcp_user_timeout", std::to_string(timeout.count() + 2000));
}

std::string with_application_name(const std::string& url, const std::string& name) {
  return with_parameter(url, "application_name", name);
}

std::string redact_url(const std::string& url) {
  std::string out = url;
  // user:password@ in the authority
  auto scheme = out.find("://");
  auto at = out.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  auto slash = out.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme != std::string::npos && at != std::string::npos && (slash == std::string::npos || at < slash)) {
    auto colon = out.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at)
      out = out.substr(0, colon + 1) + "***" + out.substr(at);
  }
  // password=... and sslpassword=... among the query parameters
  auto starts_parameter = [&](std::size_t p) { return p > 0 && (out[p - 1] == '?' || out[p - 1] == '&'); };
  for (auto pos = out.find("password="); pos != std::string::npos;
       pos = out.find("password=", pos + 1)) {
    if (!starts_parameter(pos) && !(pos >= 3 && out.compare(pos - 3, 3, "ssl") == 0 &&
                                    starts_parameter(pos - 3)))
      continue;
    auto end = out.find('&', pos);
    out = out.substr(0, pos + 9) + "***" + (end == std::string::npos ? "" : out.substr(end));
  }
  return out;
}

}  // namespace wtcache
