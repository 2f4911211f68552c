// The node's workers as the supervisor last announced them, and the cache
// reader while it has a connection: for the connections (a cache hit may go
// from a connection straight to Redis, actors/connection.cpp) and for the
// HTTP endpoint's readiness probes. Thread-safe.
#pragma once

#include <mutex>
#include <vector>

#include "messages/cache_protocol.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

class worker_directory {
public:
  void set_redis(std::vector<redis_worker_actor> pool) {
    std::lock_guard<std::mutex> lock(mutex_);
    redis_ = std::move(pool);
  }
  // One of them (round robin over `turn`), or none.
  redis_worker_actor redis(std::size_t turn) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return redis_.empty() ? redis_worker_actor{} : redis_[turn % redis_.size()];
  }

  void set_postgres(std::vector<postgres_worker_actor> pool) {
    std::lock_guard<std::mutex> lock(mutex_);
    postgres_ = std::move(pool);
  }
  std::vector<redis_worker_actor> all_redis() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return redis_;
  }
  std::vector<postgres_worker_actor> all_postgres() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return postgres_;
  }
  void set_reader(cache_read_actor reader) {
    std::lock_guard<std::mutex> lock(mutex_);
    reader_ = std::move(reader);
  }
  // Where a connection reads cache hits: the cache reader, else a worker.
  cache_read_actor reads(std::size_t turn) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (reader_ || redis_.empty())
      return reader_;
    return redis_[turn % redis_.size()];
  }

private:
  mutable std::mutex mutex_;
  std::vector<redis_worker_actor> redis_;
  std::vector<postgres_worker_actor> postgres_;
  cache_read_actor reader_;
};

}  // namespace wtcache
