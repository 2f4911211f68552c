// Counters and a latency histogram that actors update and INFO (or a
// benchmark) reads from any thread. Lock-free: relaxed atomics only, since
// the figures are statistics, not synchronisation.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/breaker.hpp"

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

// One write-behind namespace's queue, as its writers last saw it.
struct write_behind_metrics {
  write_behind_metrics(std::string table, std::size_t streams)
    : table(std::move(table)), oldest_age_ms(streams) {}
  const std::string table;
  std::atomic<int64_t> depth{0};  // entries queued, over all streams
  std::atomic<int64_t> bytes{0};
  std::vector<std::atomic<int64_t>> oldest_age_ms;  // per stream; 0 when empty
  std::atomic<uint64_t> flushed{0};       // entries persisted and acknowledged
  std::atomic<uint64_t> rows{0};          // row writes they came to, after coalescing
  std::atomic<uint64_t> batches{0};       // transactions committed
  std::atomic<uint64_t> retries{0};       // batches that failed and were tried again
  std::atomic<uint64_t> dead_letters{0};  // entries PostgreSQL refused for good
};

struct service_metrics {
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> db_reads{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> db_transactions{0};  // write transactions (group commits) answered
  std::atomic<uint64_t> write_errors{0};
  std::atomic<uint64_t> cache_write_failures{0};
  std::atomic<uint64_t> dirty_keys{0};
  // Keys in wtcache_dirty_keys at the last look (any node's), and writes
  // that had to record theirs there because Redis could not be invalidated.
  std::atomic<uint64_t> dirty_keys_shared{0};
  std::atomic<uint64_t> writes_recorded{0};
  // What lets a connection answer a cache hit without its shard: the
  // dirty-key watch's lease (steady-clock ns, stored after
  // dirty_keys_shared) and dirty marks on their way to another shard.
  std::atomic<int64_t> dirty_lease_until{0};
  std::atomic<int64_t> dirty_in_transit{0};
  std::atomic<uint64_t> queued_writes{0};  // waiting for the transaction in flight
  std::atomic<uint64_t> fills_fenced{0};
  std::atomic<uint64_t> worker_restarts{0};
  // The cache reader (actors/cache_reader.hpp): connected and serving, and
  // how many times it has (re)connected.
  std::atomic<bool> cache_reader_up{false};
  std::atomic<uint64_t> cache_reader_connects{0};
  latency_histogram write_latency;
  // One per backend, shared by the node's shards.
  circuit_breaker postgres_breaker, redis_breaker;
  // One per write-behind namespace, fixed at start.
  std::vector<std::shared_ptr<write_behind_metrics>> write_behind;
};

}  // namespace wtcache
