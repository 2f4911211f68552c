// wtcached check: every backend and namespace, ok or why not, changing nothing.
#include "app/check.hpp"

#include <cstdio>

#include <hiredis/hiredis.h>

#include "backends/redis_connection.hpp"
#include "app/schema.hpp"
#include "app/service.hpp"
#include "core/resp.hpp"
#include "messages/errors.hpp"

namespace wtcache {

namespace {

struct report {
  int failed = 0;
  void line(const char* what, bool ok, const std::string& detail) {
    std::printf("  %-9s %-6s %s\n", what, ok ? "ok" : "FAILED", detail.c_str());
    failed += ok ? 0 : 1;
  }
};

void check_redis(const config& cfg, report& r) {
  redis_connection redis;
  try {
    redis = redis_connection(redis_endpoint_of(cfg), cfg.redis_timeout);
  } catch (const config_error& e) {
    r.line("redis", false, e.what());
    return;
  }
  auto where = redact_url(cfg.redis_url);
  if (auto err = redis.connect()) {
    r.line("redis", false, where + ": " + error_detail(err));
    return;
  }
  std::string version, policy;
  for (const char* section : {"server", "memory"}) {
    auto info = redis.command({"INFO", section});
    if (info && (*info)->type == REDIS_REPLY_STRING) {
      std::string text((*info)->str, (*info)->len);
      if (version.empty())
        version = resp::info_field(text, "redis_version");
      if (policy.empty())
        policy = resp::info_field(text, "maxmemory_policy");
    }
  }
  if (auto problem = eviction_problem(policy, cfg.namespaces, cfg.redis_url)) {
    r.line("redis", false, *problem);
    return;
  }
  r.line("redis", true, where + " (Redis " + version + ", maxmemory-policy " + policy + ")");
}

void check_postgres(const config& cfg, report& r) {
  schema_report db;
  try {
    db = check_schema(with_connection_timeouts(cfg.postgres_url, cfg.postgres_timeout),
                      cfg.namespaces);
  } catch (const config_error& e) {
    r.line("postgres", false, e.what());
    return;
  } catch (const std::exception& e) {
    r.line("postgres", false, one_line(e.what()));
    return;
  }
  r.line("postgres", true,
         redact_url(cfg.postgres_url) + " (PostgreSQL " + db.server_version + "; " + db.tls + ")");
  r.line("namespace", true,
         std::string("(default) -> wtcache_kv") +
           (db.owned_objects_exist ? "" : " (created at the first start)"));
  for (auto& ns : db.namespaces)
    r.line("namespace", ns.problem.empty(),
           ns.prefix + " -> " + ns.table + (ns.problem.empty() ? "" : ": " + ns.problem));
}

}  // namespace

int run_check(const config& cfg, const std::string& config_source) {
  std::printf("wtcached check\n");
  report r;
  r.line("config", true,
         config_source + " (" + std::to_string(cfg.namespaces.size() - 1) +
           " namespace(s) besides the default, " + std::to_string(cfg.shards) + (cfg.shards == 1 ? " shard)" : " shards)"));
  check_redis(cfg, r);
  check_postgres(cfg, r);
  if (r.failed == 0)
    std::printf("all checks passed\n");
  else
    std::printf("%d check(s) failed\n", r.failed);
  std::fflush(stdout);
  return r.failed == 0 ? 0 : 1;
}

}  // namespace wtcache
