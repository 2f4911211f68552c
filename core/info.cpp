// INFO's text from the statistics and node health.
#include "core/info.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <type_traits>

#include "core/version.hpp"

namespace wtcache {

namespace {

std::string fmt_ratio(uint64_t hits, uint64_t misses) {
  if (hits + misses == 0)
    return "0.0000";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", static_cast<double>(hits) / static_cast<double>(hits + misses));
  return buf;
}

}  // namespace

std::string info_text(const info_sources& in, const std::string& section) {
  auto& m = *in.metrics;
  auto& h = *in.health;
  auto line = [](std::string& out, const char* k, auto v) {
    out += k;
    out += ':';
    if constexpr (std::is_convertible_v<decltype(v), std::string>)
      out += v;
    else
      out += std::to_string(v);
    out += "\r\n";
  };
  bool all = section.empty() || section == "all" || section == "default" ||
             section == "everything";
  std::string out;
  if (all || section == "server") {
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::steady_clock::now() - in.started).count();
    out += "# Server\r\n";
    line(out, "wtcache_version", std::string(version()));
    line(out, "redis_version", std::string(redis_version));
    line(out, "redis_mode", std::string("standalone"));
    line(out, "process_id", static_cast<long long>(::getpid()));
    line(out, "tcp_port", static_cast<long long>(in.port));
    line(out, "uptime_in_seconds", static_cast<long long>(uptime));
    line(out, "shards", static_cast<long long>(in.shards));
  }
  if (all || section == "stats") {
    auto hits = m.hits.load();
    auto misses = m.misses.load();
    if (!out.empty())
      out += "\r\n";
    out += "# Stats\r\n";
    line(out, "total_connections_received", m.connections_total.load());
    line(out, "connected_clients", m.connections_open.load());
    line(out, "total_commands_processed", m.commands.load());
    line(out, "rejected_connections", m.rejected_connections.load());
    line(out, "acl_access_denied_auth", m.auth_failures.load());
    line(out, "acl_access_denied_cmd", m.denied_commands.load());
    line(out, "acl_access_denied_key", m.denied_keys.load());
    line(out, "keyspace_hits", hits);
    line(out, "keyspace_misses", misses);
    line(out, "hit_ratio", fmt_ratio(hits, misses));
    line(out, "db_reads", m.db_reads.load());
    line(out, "writes", m.writes.load());
    line(out, "db_transactions", m.db_transactions.load());
    line(out, "write_errors", m.write_errors.load());
    line(out, "write_latency_p50_us", static_cast<long long>(m.write_latency.percentile(0.5).count()));
    line(out, "write_latency_p99_us", static_cast<long long>(m.write_latency.percentile(0.99).count()));
    line(out, "cache_write_failures", m.cache_write_failures.load());
    line(out, "dirty_keys", h.marked.load());
    line(out, "dirty_keys_shared", h.shared_dirty.load());
    line(out, "writes_recorded", m.writes_recorded.load());
    line(out, "queued_writes", m.queued_writes.load());
    line(out, "read_through_fills", m.fills.load());
    line(out, "fills_fenced", m.fenced_cache_writes.load());
    line(out, "worker_restarts", m.worker_restarts.load());
    line(out, "expired_keys", m.expired_rows_deleted.load());
    line(out, "cache_reader", std::string(m.cache_reader_up.load() ? "up" : "down"));
    line(out, "cache_reader_connections", m.cache_reader_connects.load());
    auto now = std::chrono::steady_clock::now();
    line(out, "breaker_postgres", std::string(circuit_breaker::name(h.postgres.current(now))));
    line(out, "breaker_redis", std::string(circuit_breaker::name(h.redis.current(now))));
    line(out, "breaker_postgres_opened", h.postgres.times_opened());
    line(out, "breaker_redis_opened", h.redis.times_opened());
  }
  auto us = [](double seconds) { return std::to_string(static_cast<long long>(seconds * 1e6)); };
  if (all || section == "backends") {
    if (!out.empty())
      out += "\r\n";
    out += "# Backends\r\n";
    line(out, "postgres_pool_size", m.postgres_pool_size.load());
    line(out, "postgres_pool_in_use", std::max<int64_t>(0, m.postgres_in_use.load()));
    line(out, "redis_pool_size", m.redis_pool_size.load());
    line(out, "redis_pool_in_use", std::max<int64_t>(0, m.redis_in_use.load()));
    auto calls = [&](const char* name, const bucket_histogram& b) {
      out += std::string(name) + ":calls=" + std::to_string(b.count()) + ",p50_us=" +
             us(b.quantile(0.5)) + ",p99_us=" + us(b.quantile(0.99)) + "\r\n";
    };
    calls("db_transactions_latency", m.db_transaction_latency);
    calls("db_reads_latency", m.db_read_latency);
    calls("cache_reads_latency", m.cache_read_latency);
    calls("cache_writes_latency", m.cache_write_latency);
    line(out, "redis_used_memory", m.redis_used_memory.load());
    line(out, "redis_evicted_keys", m.redis_evicted_keys.load());
    line(out, "redis_topology", std::string(m.redis_cluster.load() ? "cluster" : "single"));
    if (m.redis_cluster.load()) {
      auto state = m.redis_cluster_ok.load();
      line(out, "redis_cluster_state", std::string(state < 0 ? "unknown" : state ? "ok" : "fail"));
      line(out, "redis_cluster_slots_ok", m.redis_cluster_slots_ok.load());
      line(out, "redis_cluster_known_nodes", m.redis_cluster_known_nodes.load());
      line(out, "redis_cluster_masters", m.redis_cluster_masters.load());
      line(out, "redis_cluster_masters_reachable", m.redis_cluster_masters_up.load());
      line(out, "redis_cluster_redirections", m.redis_redirections.load());
      line(out, "redis_cluster_slot_map_loads", m.redis_slot_map_loads.load());
    }
  }
  if (all || section == "namespaces" || section == "keyspace") {
    if (!out.empty())
      out += "\r\n";
    out += "# Namespaces\r\n";
    for (auto& ns : m.namespaces) {
      auto hit = ns.hits.load(), x = ns.misses.load();
      out += "ns_" + ns.table + ":hits=" + std::to_string(hit) + ",misses=" + std::to_string(x) +
             ",hit_ratio=" + fmt_ratio(hit, x) + "\r\n";
    }
  }
  // As in Redis, these two only when asked for (or with "all").
  bool every = section == "all" || section == "everything";
  if (every || section == "commandstats") {
    if (!out.empty())
      out += "\r\n";
    out += "# Commandstats\r\n";
    for (auto& c : m.commands_by_name) {
      auto calls = c.calls.load();
      if (calls == 0)
        continue;
      auto usec = static_cast<long long>(c.latency.sum_seconds() * 1e6);
      char per[32];
      std::snprintf(per, sizeof per, "%.2f", static_cast<double>(usec) / static_cast<double>(calls));
      out += "cmdstat_" + c.name + ":calls=" + std::to_string(calls) + ",usec=" +
             std::to_string(usec) + ",usec_per_call=" + per + ",rejected_calls=0,failed_calls=" +
             std::to_string(c.errors.load()) + "\r\n";
    }
  }
  if (every || section == "latencystats") {
    if (!out.empty())
      out += "\r\n";
    out += "# Latencystats\r\n";
    for (auto& c : m.commands_by_name) {
      if (c.calls.load() == 0)
        continue;
      out += "latency_percentiles_usec_" + c.name + ":p50=" + us(c.latency.quantile(0.5)) +
             ",p99=" + us(c.latency.quantile(0.99)) + ",p99.9=" + us(c.latency.quantile(0.999)) +
             "\r\n";
    }
  }
  if ((all || section == "write-behind" || section == "writebehind") && !m.write_behind.empty()) {
    // One line per namespace, in the style of Redis's keyspace lines.
    if (!out.empty())
      out += "\r\n";
    out += "# Write-behind\r\n";
    for (auto& wb : m.write_behind) {
      int64_t oldest = 0;
      for (auto& a : wb->oldest_age_ms)
        oldest = std::max<int64_t>(oldest, a.load());
      out += "wb_" + wb->table + ":queue_depth=" + std::to_string(wb->depth()) +
             ",queue_bytes=" + std::to_string(wb->bytes()) +
             ",oldest_entry_age_ms=" + std::to_string(oldest) +
             ",flushed=" + std::to_string(wb->flushed.load()) +
             ",rows_written=" + std::to_string(wb->rows.load()) +
             ",batches=" + std::to_string(wb->batches.load()) +
             ",retries=" + std::to_string(wb->retries.load()) +
             ",dead_letters=" + std::to_string(wb->dead_letters.load()) + "\r\n";
    }
  }
  return out;
}

}  // namespace wtcache
