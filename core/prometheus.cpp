// The Prometheus text exposition of the statistics and node health.
#include "core/prometheus.hpp"
#include "core/version.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace wtcache {

namespace {

std::string number(double v) {
  if (std::isnan(v))
    return "NaN";
  // The shortest form that reads back as the same double.
  char buf[64];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  return buf;
}

std::string number(uint64_t v) { return std::to_string(v); }
std::string number(int64_t v) { return std::to_string(v); }

// A label value as the format wants it: backslash, quote and newline escaped.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

class writer {
public:
  void family(const std::string& name, const char* type, const char* help) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  template <class V>
  void sample(const std::string& name, const std::string& labels, V value) {
    out_ += name;
    if (!labels.empty())
      out_ += "{" + labels + "}";
    out_ += " " + number(value) + "\n";
  }
  // A family of one unlabelled sample.
  template <class V>
  void single(const std::string& name, const char* type, const char* help, V value) {
    family(name, type, help);
    sample(name, "", value);
  }
  // One series of a histogram family (declared by the caller).
  void histogram(const std::string& name, const std::string& labels, const bucket_histogram& h) {
    auto counts = h.counts();
    uint64_t cumulative = 0;
    auto sep = labels.empty() ? "" : ",";
    for (std::size_t i = 0; i < bucket_histogram::bounds.size(); ++i) {
      cumulative += counts[i];
      sample(name + "_bucket", labels + sep + "le=" + quoted(number(bucket_histogram::bounds[i])),
             cumulative);
    }
    cumulative += counts.back();
    sample(name + "_bucket", labels + sep + "le=\"+Inf\"", cumulative);
    sample(name + "_sum", labels, h.sum_seconds());
    sample(name + "_count", labels, cumulative);
  }
  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

std::string label(const char* name, const std::string& value) {
  return std::string(name) + "=" + quoted(value);
}

}  // namespace

std::string prometheus_text(const service_metrics& m, const node_health& h,
                            std::chrono::steady_clock::time_point now) {
  writer w;
  w.family("wtcache_build_info", "gauge", "Always 1; the version of wtcached.");
  w.sample("wtcache_build_info", label("version", version()), uint64_t{1});

  w.family("wtcache_commands_total", "counter", "Client commands answered, by command.");
  for (auto& c : m.commands_by_name)
    if (c.calls.load() > 0)
      w.sample("wtcache_commands_total", label("command", c.name), c.calls.load());
  w.family("wtcache_command_errors_total", "counter",
           "Client commands answered with an error reply, by command.");
  for (auto& c : m.commands_by_name)
    if (c.calls.load() > 0)
      w.sample("wtcache_command_errors_total", label("command", c.name), c.errors.load());
  w.family("wtcache_command_duration_seconds", "histogram",
           "Client commands from parsed to answered, by command.");
  for (auto& c : m.commands_by_name)
    if (c.calls.load() > 0)
      w.histogram("wtcache_command_duration_seconds", label("command", c.name), c.latency);

  w.family("wtcache_cache_hits_total", "counter", "Reads answered from the cache, by namespace.");
  for (auto& n : m.namespaces)
    w.sample("wtcache_cache_hits_total", label("namespace", n.table), n.hits.load());
  w.family("wtcache_cache_misses_total", "counter",
           "Reads answered from PostgreSQL (not cached, a tombstone, a dirty key, or Redis "
           "unavailable), by namespace.");
  for (auto& n : m.namespaces)
    w.sample("wtcache_cache_misses_total", label("namespace", n.table), n.misses.load());
  w.family("wtcache_cache_hit_ratio", "gauge",
           "Hits over reads since start, by namespace (NaN before the first read); for a "
           "window, use rate() of the hit and miss counters.");
  for (auto& n : m.namespaces) {
    auto h = n.hits.load(), x = n.misses.load();
    w.sample("wtcache_cache_hit_ratio", label("namespace", n.table),
             h + x == 0 ? std::nan("") : static_cast<double>(h) / static_cast<double>(h + x));
  }
  w.single("wtcache_expired_rows_deleted_total", "counter",
           "Rows whose value had expired, deleted by this node's reaper (expiry = \"value\").",
           m.expired_rows_deleted.load());
  w.single("wtcache_read_through_fills_total", "counter",
           "Cache fills sent to Redis after a read from PostgreSQL.",
           m.fills.load());
  w.single("wtcache_fenced_cache_writes_total", "counter",
           "Cache writes (read-through fills, and updates after COMMIT) the fence refused "
           "because the cache already held a newer version.",
           m.fenced_cache_writes.load());
  w.single("wtcache_db_reads_total", "counter",
           "Row reads from PostgreSQL.",
           m.db_reads.load());
  w.single("wtcache_writes_total", "counter",
           "Key writes answered (write-through and write-behind).",
           m.writes.load());
  w.single("wtcache_write_errors_total", "counter",
           "Key writes answered with an error.",
           m.write_errors.load());
  w.single("wtcache_db_transactions_total", "counter",
           "Write-through transactions (group commits) answered.",
           m.db_transactions.load());
  w.single("wtcache_cache_write_failures_total", "counter",
           "Cache updates after COMMIT that failed (their keys were marked dirty).",
           m.cache_write_failures.load());
  w.single("wtcache_dirty_keys", "gauge",
           "Keys whose cache copy is distrusted until a tombstone lands, on this node.",
           h.marked.load());
  w.single("wtcache_dirty_keys_shared", "gauge",
           "Keys in wtcache_dirty_keys (any node's) at the last look.",
           h.shared_dirty.load());
  w.single("wtcache_writes_recorded_total", "counter",
           "Writes that recorded their keys in wtcache_dirty_keys because Redis could not be "
           "invalidated.",
           m.writes_recorded.load());
  w.single("wtcache_queued_writes", "gauge",
           "Writes waiting for their shard's transaction.",
           m.queued_writes.load());

  w.family("wtcache_db_call_duration_seconds", "histogram",
           "PostgreSQL calls: a write transaction (BEGIN to cache update) or a row read.");
  w.histogram("wtcache_db_call_duration_seconds", label("call", "transaction"),
              m.db_transaction_latency);
  w.histogram("wtcache_db_call_duration_seconds", label("call", "read"), m.db_read_latency);
  w.family("wtcache_cache_call_duration_seconds", "histogram",
           "Redis calls: a read (from asked to answered, over the cache reader's connection "
           "or a worker's round), or a round of fenced writes.");
  w.histogram("wtcache_cache_call_duration_seconds", label("call", "read"), m.cache_read_latency);
  w.histogram("wtcache_cache_call_duration_seconds", label("call", "write"),
              m.cache_write_latency);

  w.family("wtcache_pool_size", "gauge", "Worker connections configured, by backend.");
  w.sample("wtcache_pool_size", label("backend", "postgres"), m.postgres_pool_size.load());
  w.sample("wtcache_pool_size", label("backend", "redis"), m.redis_pool_size.load());
  w.family("wtcache_pool_in_use", "gauge", "Workers busy with a request right now, by backend.");
  w.sample("wtcache_pool_in_use", label("backend", "postgres"),
           std::max<int64_t>(0, m.postgres_in_use.load()));
  w.sample("wtcache_pool_in_use", label("backend", "redis"),
           std::max<int64_t>(0, m.redis_in_use.load()));

  w.family("wtcache_circuit_breaker_state", "gauge",
           "Circuit breaker by backend: 0 closed, 1 half-open (the next request probes), 2 open "
           "(failing fast).");
  for (auto [name, br] : {std::pair{"postgres", &h.postgres}, std::pair{"redis", &h.redis}}) {
    auto s = br->current(now);
    uint64_t v = s == circuit_breaker::state::closed ? 0 : s == circuit_breaker::state::half_open ? 1 : 2;
    w.sample("wtcache_circuit_breaker_state", label("backend", name), v);
  }
  w.family("wtcache_circuit_breaker_opened_total", "counter", "Times the breaker opened.");
  w.sample("wtcache_circuit_breaker_opened_total", label("backend", "postgres"),
           h.postgres.times_opened());
  w.sample("wtcache_circuit_breaker_opened_total", label("backend", "redis"),
           h.redis.times_opened());
  w.single("wtcache_actor_restarts_total", "counter",
           "Worker actors the supervisor restarted.",
           m.worker_restarts.load());
  w.single("wtcache_client_connections", "gauge",
           "Client connections open.",
           m.connections_open.load());
  w.single("wtcache_client_connections_total", "counter",
           "Client connections accepted.",
           m.connections_total.load());
  w.single("wtcache_rejected_connections_total", "counter",
           "Client connections refused because maxclients were open.",
           m.rejected_connections.load());
  w.family("wtcache_acl_denied_total", "counter",
           "Requests refused: failed AUTH (auth), a command before authentication (noauth), "
           "a command or a key the user may not use (command, key).");
  w.sample("wtcache_acl_denied_total", label("reason", "auth"), m.auth_failures.load());
  w.sample("wtcache_acl_denied_total", label("reason", "noauth"),
           m.unauthenticated_refusals.load());
  w.sample("wtcache_acl_denied_total", label("reason", "command"), m.denied_commands.load());
  w.sample("wtcache_acl_denied_total", label("reason", "key"), m.denied_keys.load());
  w.single("wtcache_cache_reader_up", "gauge",
           "1 while cache hits are read over the cache reader's own Redis connection.",
           uint64_t{m.cache_reader_up.load() ? 1u : 0u});

  if (auto mem = m.redis_used_memory.load(); mem >= 0) {
    w.family("wtcache_redis_used_memory_bytes", "gauge", "Redis INFO used_memory, read periodically.");
    w.sample("wtcache_redis_used_memory_bytes", "", mem);
  }
  if (auto ev = m.redis_evicted_keys.load(); ev >= 0) {
    w.family("wtcache_redis_evicted_keys_total", "counter",
             "Redis INFO evicted_keys, read periodically: rate() is the eviction rate.");
    w.sample("wtcache_redis_evicted_keys_total", "", ev);
  }

  if (m.redis_cluster.load()) {
    auto gauge = [&](const char* name, const char* help, int64_t value) {
      if (value >= 0)
        w.single(name, "gauge", help, value);
    };
    gauge("wtcache_redis_cluster_state_ok",
          "1 while the Redis Cluster says cluster_state:ok, read periodically.",
          m.redis_cluster_ok.load());
    gauge("wtcache_redis_cluster_slots_ok", "Slots the Redis Cluster serves (of 16384).",
          m.redis_cluster_slots_ok.load());
    gauge("wtcache_redis_cluster_known_nodes", "Masters and replicas the Redis Cluster knows.",
          m.redis_cluster_known_nodes.load());
    gauge("wtcache_redis_cluster_masters", "Masters of the slot map.",
          m.redis_cluster_masters.load());
    gauge("wtcache_redis_cluster_masters_reachable",
          "Masters of the slot map that answered the last look.",
          m.redis_cluster_masters_up.load());
    w.single("wtcache_redis_cluster_redirections_total", "counter",
             "MOVED and ASK redirections followed by this node's Redis connections.",
             m.redis_redirections.load());
    w.single("wtcache_redis_cluster_slot_map_loads_total", "counter",
             "Slot maps read (CLUSTER SLOTS): at connect, and after MOVED or CLUSTERDOWN.",
             m.redis_slot_map_loads.load());
  }

  if (!m.write_behind.empty()) {
    auto each = [&](const char* name, const char* type, const char* help, auto value_of) {
      w.family(name, type, help);
      for (auto& wb : m.write_behind)
        w.sample(name, label("namespace", wb->table), value_of(*wb));
    };
    each("wtcache_write_behind_queue_depth", "gauge", "Entries queued, not yet in PostgreSQL.",
         [](const write_behind_metrics& q) { return std::max<int64_t>(0, q.depth()); });
    each("wtcache_write_behind_queue_bytes", "gauge", "Bytes of the queued entries.",
         [](const write_behind_metrics& q) { return std::max<int64_t>(0, q.bytes()); });
    each("wtcache_write_behind_oldest_entry_age_seconds", "gauge",
         "Age of the oldest queued entry (0 when the queue is empty).",
         [](const write_behind_metrics& q) {
           int64_t oldest = 0;
           for (auto& a : q.oldest_age_ms)
             oldest = std::max<int64_t>(oldest, a.load());
           return static_cast<double>(oldest) / 1000.0;
         });
    each("wtcache_write_behind_flushed_total", "counter",
         "Entries persisted in PostgreSQL and acknowledged in the queue.",
         [](const write_behind_metrics& q) { return q.flushed.load(); });
    each("wtcache_write_behind_rows_written_total", "counter",
         "Row writes the flushed entries came to, after coalescing.",
         [](const write_behind_metrics& q) { return q.rows.load(); });
    each("wtcache_write_behind_batches_total", "counter", "Write-behind transactions committed.",
         [](const write_behind_metrics& q) { return q.batches.load(); });
    each("wtcache_write_behind_retries_total", "counter",
         "Write-behind batches that failed and were tried again.",
         [](const write_behind_metrics& q) { return q.retries.load(); });
    each("wtcache_write_behind_dead_letters_total", "counter",
         "Entries PostgreSQL refused for good (moved to wtcache_dead_letters).",
         [](const write_behind_metrics& q) { return q.dead_letters.load(); });
  }
  return w.take();
}

}  // namespace wtcache
