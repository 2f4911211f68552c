// Where a GET goes: the one place that decides whether a key's cached copy
// may be answered (promise 3 of DESIGN.md), for the connection and for the
// key's shard.
//
// A connection may read the cache itself, skipping the shard, only while
// nothing on the node makes any cached value doubtful (may_skip_shard). A
// hit is then the answer; a miss or a tombstone goes to the shard as already
// seen, so that the shard reads the database without asking Redis again.
// Otherwise the shard decides for the key with route_read().
#pragma once

#include <chrono>

#include "core/node_health.hpp"

namespace wtcache {

// No dirty key anywhere on the node or in wtcache_dirty_keys, a fresh
// dirty-key lease, both breakers closed. Reads node health in the order its
// writers need (core/node_health.hpp).
inline bool may_skip_shard(const node_health& h, std::chrono::steady_clock::time_point now) {
  return now.time_since_epoch().count() < h.lease_until.load() && h.shared_dirty.load() == 0 &&
         h.in_transit.load() == 0 && h.marked.load() == 0 &&
         h.redis.current(now) == circuit_breaker::state::closed &&
         h.postgres.current(now) == circuit_breaker::state::closed;
}

enum class read_route {
  cache,         // ask Redis; a hit is the answer, a miss reads through and fills
  fill,          // read PostgreSQL and fill the cache from the row
  no_fill,       // read PostgreSQL only (the key is dirty, or Redis cannot be used)
  need_redis,    // a write-behind key without Redis: no trustworthy answer
  need_database  // on_database_failure = "fail" while PostgreSQL is down
};

struct read_facts {
  bool write_behind = false;      // the key's newest value may exist only in Redis
  bool dirty = false;             // the shard distrusts the key's cache copy
  bool cache_trusted = false;     // the dirty-key lease is fresh (or PostgreSQL is down)
  bool cache_checked = false;     // the connection read Redis already: a miss or tombstone
  bool refuse_without_database = false;  // on_database_failure = "fail"
  bool database_down = false;            // PostgreSQL's breaker is open
};

inline read_route route_read(const read_facts& f) {
  if (f.refuse_without_database && f.database_down)
    return read_route::need_database;
  if (f.dirty)
    return read_route::no_fill;
  if (f.cache_checked)
    return read_route::fill;
  // Another node may have committed a newer value that it could not
  // invalidate: the database answers (its row may fill the cache: the fill
  // carries the row's version, so it can only move forward).
  if (!f.write_behind && !f.cache_trusted)
    return read_route::fill;
  return read_route::cache;
}

// The route instead of read_route::cache when Redis cannot be asked (no
// worker, its breaker open) or did not answer: the database, without a fill,
// except for a write-behind key, which has no trustworthy answer then.
inline read_route without_redis(const read_facts& f) {
  return f.write_behind ? read_route::need_redis : read_route::no_fill;
}

}  // namespace wtcache
