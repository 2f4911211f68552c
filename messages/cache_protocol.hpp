// The Redis worker protocol: versioned cache entries, read and written through
// the fence script so that no write can move an entry to an older version.
//
//   (atom::get, std::vector<std::string> redis_keys, deadline) -> std::vector<cache_entry>
//   (atom::put, std::vector<cache_write>, deadline)          -> std::vector<cache_write_result>
//
// `deadline` is steady-clock nanoseconds: a request that waited in the
// worker's mailbox past it is answered with ec::timeout instead of being run
// late (a late fill could otherwise land after its tombstone expired).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"

namespace wtcache {

struct cache_entry {
  bool present = false;    // a value or a tombstone is there
  bool tombstone = false;  // "nothing newer than `version` is known": read the database
  int64_t version = 0;
  std::string data;
};

template <class F>
typename F::result_type inspect(F& f, cache_entry& x) {
  return f(caf::meta::type_name("cache_entry"), x.present, x.tombstone, x.version, x.data);
}

struct cache_write {
  std::string redis_key;
  int64_t version = 0;
  bool tombstone = false;
  std::string data;
  int64_t ttl_ms = 0;  // 0: no expiry (tombstones always get one)
};

template <class F>
typename F::result_type inspect(F& f, cache_write& x) {
  return f(caf::meta::type_name("cache_write"), x.redis_key, x.version, x.tombstone, x.data,
           x.ttl_ms);
}

enum class cache_write_result : int8_t {
  applied,  // the entry now holds this version
  fenced,   // an entry at this or a newer version was there; nothing changed
  failed,   // Redis refused it (the entry is unknown: treat the key as dirty)
};

// The Redis worker's interface (actors/redis_worker.hpp).
using redis_worker_actor = caf::typed_actor<
  // Reads entries; one per key, in order.
  caf::replies_to<atom::get, std::vector<std::string>, int64_t>::with<std::vector<cache_entry>>,
  // Writes entries through the fence script; one result per write, in order.
  caf::replies_to<atom::put, std::vector<cache_write>, int64_t>::with<
    std::vector<cache_write_result>>>;

}  // namespace wtcache
