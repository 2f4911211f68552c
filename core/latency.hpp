// Counters and latency histograms that actors update and INFO, /metrics (or
// a benchmark) read from any thread. Lock-free: relaxed atomics only, since
// the figures are statistics, not synchronisation; nothing decides from
// them (what decisions read is core/node_health.hpp).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>


namespace wtcache {

// Log-linear buckets over microseconds: 8 sub-buckets per power of two gives
// percentiles within ~12% from 1 us to over an hour.
class latency_histogram {
public:
  void record(std::chrono::microseconds d);
  // q in [0, 1]; 0 when nothing was recorded.
  std::chrono::microseconds percentile(double q) const;
  uint64_t count() const;
  void merge_into(latency_histogram& other) const;

private:
  static constexpr int sub = 8;
  static constexpr int buckets = 64 * sub;
  static int index_of(uint64_t us);
  static uint64_t upper_of(int index);
  std::array<std::atomic<uint64_t>, buckets> counts_{};
};

// A Prometheus histogram: fixed upper bounds, in seconds, from 100 us to
// 10 s (what a cache in front of a database spans), plus +Inf.
class bucket_histogram {
public:
  static constexpr std::array<double, 16> bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                 0.005,  0.01,    0.025,  0.05,  0.1,
                                                 0.25,   0.5,     1,      2.5,   5,  10};
  void observe(std::chrono::nanoseconds d);
  // Per bucket (the last one +Inf), not cumulative.
  std::array<uint64_t, bounds.size() + 1> counts() const;
  double sum_seconds() const;
  uint64_t count() const;
  // The q-quantile in seconds, interpolated within its bucket as
  // Prometheus's histogram_quantile() does; 0 when nothing was observed.
  double quantile(double q) const;

private:
  std::array<std::atomic<uint64_t>, bounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// One client command's figures.
struct command_metrics {
  explicit command_metrics(std::string name) : name(std::move(name)) {}
  const std::string name;  // lower case; "other" for commands wtcached does not know
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> errors{0};  // answered with an error reply
  bucket_histogram latency;         // from parsed to answered
};

// One namespace's cache figures.
struct namespace_metrics {
  explicit namespace_metrics(std::string table) : table(std::move(table)) {}
  const std::string table;
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
};

// One write-behind namespace's queue, as its writers last saw it.
struct write_behind_metrics {
  write_behind_metrics(std::string table, std::size_t writers)
    : table(std::move(table)), depth_of(writers), bytes_of(writers), oldest_age_ms(writers) {}
  const std::string table;
  // Per writer, over the streams of its groups (each writer, draining or
  // standing by, counts its own): entries queued, their bytes, and the age
  // of the oldest (0 when none).
  std::vector<std::atomic<int64_t>> depth_of, bytes_of;
  std::vector<std::atomic<int64_t>> oldest_age_ms;
  // Entries queued and their bytes, over all streams.
  int64_t depth() const { return sum(depth_of); }
  int64_t bytes() const { return sum(bytes_of); }
  std::atomic<uint64_t> flushed{0};       // entries persisted and acknowledged
  std::atomic<uint64_t> rows{0};          // row writes they came to, after coalescing
  std::atomic<uint64_t> batches{0};       // transactions committed
  std::atomic<uint64_t> retries{0};       // batches that failed and were tried again
  std::atomic<uint64_t> dead_letters{0};  // entries PostgreSQL refused for good

private:
  static int64_t sum(const std::vector<std::atomic<int64_t>>& v) {
    int64_t n = 0;
    for (auto& a : v)
      n += a.load(std::memory_order_relaxed);
    return n;
  }
};

struct service_metrics {
  // Per command: supported_commands() in order, then "other".
  service_metrics();
  // Per namespace, in the configuration's order; set once before any actor runs.
  void set_namespaces(const std::vector<std::string>& tables);
  // The slot of a command name (any case); "other" for unknown ones.
  command_metrics& command(const std::string& name);
  void hit(std::size_t ns);
  void miss(std::size_t ns);

  std::deque<command_metrics> commands_by_name;
  std::deque<namespace_metrics> namespaces;

  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_open{0};
  // Security: connections refused past maxclients; failed AUTH/HELLO AUTH;
  // commands refused before authentication (NOAUTH); commands and keys a
  // user may not use (NOPERM).
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> auth_failures{0}, unauthenticated_refusals{0};
  std::atomic<uint64_t> denied_commands{0}, denied_keys{0};
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> db_reads{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> db_transactions{0};  // write transactions (group commits) answered
  std::atomic<uint64_t> write_errors{0};
  std::atomic<uint64_t> cache_write_failures{0};
  // Writes that had to record their keys in wtcache_dirty_keys because
  // Redis could not be invalidated.
  std::atomic<uint64_t> writes_recorded{0};
  std::atomic<uint64_t> queued_writes{0};  // waiting for the transaction in flight
  std::atomic<uint64_t> fills{0};  // read-through fills sent to Redis
  std::atomic<uint64_t> fenced_cache_writes{0};  // refused by the fence: fills and updates
  std::atomic<uint64_t> worker_restarts{0};
  std::atomic<uint64_t> expired_rows_deleted{0};  // by the reaper (actors/reaper.hpp)
  // The cache reader (actors/cache_reader.hpp): connected and serving, and
  // how many times it has (re)connected.
  std::atomic<bool> cache_reader_up{false};
  std::atomic<uint64_t> cache_reader_connects{0};
  latency_histogram write_latency;
  // Backend calls as the workers see them: a write transaction from BEGIN to
  // its cache update, a row read; a cache read (a pipelined round), a
  // fenced cache write (a round of entries).
  bucket_histogram db_transaction_latency, db_read_latency;
  bucket_histogram cache_read_latency, cache_write_latency;
  // The pools: configured size and workers busy with a request right now.
  std::atomic<uint64_t> postgres_pool_size{0}, redis_pool_size{0};
  std::atomic<int64_t> postgres_in_use{0}, redis_in_use{0};
  // From Redis's INFO, read periodically (-1: not read yet); on a Redis
  // Cluster summed over its masters.
  std::atomic<int64_t> redis_used_memory{-1}, redis_evicted_keys{-1};
  // A Redis Cluster as the cache tier: its state as the last look read it
  // (CLUSTER INFO; -1: not read yet), the masters of the slot map and those
  // that answered, and every connection's redirections followed (MOVED,
  // ASK) and slot map loads.
  std::atomic<bool> redis_cluster{false};
  std::atomic<int64_t> redis_cluster_ok{-1}, redis_cluster_slots_ok{-1};
  std::atomic<int64_t> redis_cluster_known_nodes{-1};
  std::atomic<int64_t> redis_cluster_masters{-1}, redis_cluster_masters_up{-1};
  std::atomic<uint64_t> redis_redirections{0}, redis_slot_map_loads{0};
  // One per write-behind namespace, fixed at start.
  std::vector<std::shared_ptr<write_behind_metrics>> write_behind;
};

// A worker's call, while it runs: counted in the pool's in-use gauge, and
// timed into a histogram when done. A worker without figures (null
// metrics) counts nothing; a null member is skipped.
class busy_call {
public:
  busy_call(service_metrics* m, std::atomic<int64_t> service_metrics::*in_use,
            bucket_histogram service_metrics::*latency)
    : in_use_(m && in_use ? &(m->*in_use) : nullptr),
      latency_(m && latency ? &(m->*latency) : nullptr),
      started_(std::chrono::steady_clock::now()) {
    if (in_use_)
      in_use_->fetch_add(1, std::memory_order_relaxed);
  }
  ~busy_call() {
    if (in_use_)
      in_use_->fetch_sub(1, std::memory_order_relaxed);
    if (latency_)
      latency_->observe(std::chrono::steady_clock::now() - started_);
  }
  busy_call(const busy_call&) = delete;
  busy_call& operator=(const busy_call&) = delete;

private:
  std::atomic<int64_t>* in_use_;
  bucket_histogram* latency_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace wtcache
