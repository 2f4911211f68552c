// wtcached check: every backend and namespace, ok or why not, changing nothing.
#include "app/check.hpp"

#include <algorithm>
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
  // Every master's version and eviction policy (a single Redis: its own).
  auto masters = redis.cluster() ? redis.masters() : std::vector<std::string>{where};
  std::vector<std::string> version(masters.size()), policy(masters.size());
  for (const char* section : {"server", "memory"}) {
    auto replies = redis.on_masters({"INFO", section});
    for (std::size_t i = 0; i < replies.size() && i < masters.size(); ++i) {
      auto& info = replies[i];
      if (!info) {
        r.line("redis", false, masters[i] + ": " + error_detail(info.error()));
        return;
      }
      if ((*info)->type != REDIS_REPLY_STRING)
        continue;
      std::string text((*info)->str, (*info)->len);
      if (version[i].empty())
        version[i] = resp::info_field(text, "redis_version");
      if (policy[i].empty())
        policy[i] = resp::info_field(text, "maxmemory_policy");
    }
  }
  if (masters.empty()) {
    r.line("redis", false, where + ": the cluster's slot map names no master");
    return;
  }
  for (std::size_t i = 0; i < masters.size(); ++i)
    if (policy[i].empty()) {
      r.line("redis", false, masters[i] + ": INFO memory named no maxmemory-policy");
      return;
    }
  for (std::size_t i = 0; i < masters.size(); ++i)
    if (auto problem = eviction_problem(policy[i], cfg.namespaces, cfg.redis_url)) {
      r.line("redis", false, (redis.cluster() ? "master " + masters[i] + ": " : "") + *problem);
      return;
    }
  if (!redis.cluster()) {
    r.line("redis", true, where + " (Redis " + version[0] + ", maxmemory-policy " + policy[0] + ")");
    return;
  }
  auto info = redis.command({"CLUSTER", "INFO"});
  if (!info || (*info)->type != REDIS_REPLY_STRING) {
    r.line("redis", false, where + ": CLUSTER INFO: " +
                             (info ? reply_text(info->get()) : error_detail(info.error())));
    return;
  }
  std::string text((*info)->str, (*info)->len);
  auto state = resp::info_field(text, "cluster_state");
  auto slots_ok = resp::info_field(text, "cluster_slots_ok");
  auto nodes = resp::info_field(text, "cluster_known_nodes");
  std::string list;
  for (std::size_t i = 0; i < masters.size(); ++i)
    list += (i ? ", " : "") + masters[i];
  auto same = [](const std::vector<std::string>& v) {
    return std::all_of(v.begin(), v.end(), [&](const std::string& x) { return x == v.front(); });
  };
  r.line("redis", state == "ok",
         where + " (Redis Cluster, state " + state + ": " + slots_ok + " of 16384 slots served, " +
           std::to_string(masters.size()) + " masters (" + list + "), " + nodes +
           " nodes known; Redis " + (same(version) ? version[0] : std::string("of several versions")) +
           ", maxmemory-policy " + (same(policy) ? policy[0] : std::string("mixed")) +
           (masters.size() > 1 ? " on every master" : "") + ")");
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
