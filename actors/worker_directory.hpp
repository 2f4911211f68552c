// The node's Redis workers as the supervisor last announced them, for the
// connections: a cache hit may go from a connection straight to a Redis
// worker (actors/connection.cpp). Thread-safe.
#pragma once

#include <mutex>
#include <vector>

#include "messages/cache_protocol.hpp"

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

private:
  mutable std::mutex mutex_;
  std::vector<redis_worker_actor> redis_;
};

}  // namespace wtcache
