// What this node's decisions read, kept apart from its statistics
// (core/latency.hpp): whether a backend may be called now (the circuit
// breakers), and whether a cached write-through value may be answered
// without asking its key's shard (the dirty-key lease and the dirty marks,
// promise 3 of DESIGN.md). One per service, shared by its actors.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/breaker.hpp"

namespace wtcache {

struct node_health {
  // The circuit breakers: fed by the shards (each reply from a backend),
  // read by the shards, the connections and the HTTP endpoint. Each has
  // its own mutex.
  circuit_breaker postgres, redis;

  // The fields below are atomics used with sequentially consistent loads
  // and stores (the default); the order of the stores is what makes a
  // reader's conclusion safe.

  // Written by the dirty-key watch (actors/dirty_watch.hpp) after each look
  // at wtcache_dirty_keys: first `shared_dirty`, the records it saw (any
  // node's), then `lease_until`, steady-clock ns until which that look may
  // be trusted. A reader that sees a fresh lease therefore sees the count of
  // that look or a later one.
  std::atomic<uint64_t> shared_dirty{0};
  std::atomic<int64_t> lease_until{0};

  // Written by the shards: keys marked dirty on this node, and marks on
  // their way from the shard that committed a key to the shard that owns
  // it. A mark is counted in `marked` before it leaves `in_transit`, and a
  // write marks its key before it is acknowledged, so a reader that sees
  // both at zero after the acknowledgement has nothing to distrust.
  std::atomic<uint64_t> marked{0};
  std::atomic<int64_t> in_transit{0};
};

}  // namespace wtcache
