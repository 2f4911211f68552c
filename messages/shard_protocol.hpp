// The shard coordinator protocol, spoken by connections (and by shards to
// each other for writes that span shards).
//
//   (atom::get, std::string key) -> lookup
//       Cache first; on a miss or tombstone, PostgreSQL (one read per key in
//       flight), then a fenced fill.
//   (atom::put, write_request) -> std::vector<int64_t>
//       Group-committed with the shard's other writes; answered after COMMIT
//       and the cache update. One number per write: del -> rows deleted,
//       incr -> the new value, set -> the version.
//   (atom::committed, std::string key, int64_t version, bool cache_ok)
//       Another shard committed this shard's key (MSET/DEL over several
//       shards): drop single-flight reads of it; mark it dirty if !cache_ok.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/store_protocol.hpp"

namespace wtcache {

struct lookup {
  bool found = false;
  std::string value;
};

template <class F>
typename F::result_type inspect(F& f, lookup& x) {
  return f(caf::meta::type_name("lookup"), x.found, x.value);
}

struct key_write {
  op_kind kind = op_kind::set;
  std::string key;    // the client's key, prefix included
  std::string value;  // set
  int64_t delta = 0;  // incr
  int64_t ttl_ms = -1;  // set with EX/PX: the cache copy's TTL; -1: namespace TTL
};

template <class F>
typename F::result_type inspect(F& f, key_write& x) {
  return f(caf::meta::type_name("key_write"), x.kind, x.key, x.value, x.delta, x.ttl_ms);
}

// One client command's writes: committed together or not at all.
struct write_request {
  std::vector<key_write> writes;
};

template <class F>
typename F::result_type inspect(F& f, write_request& x) {
  return f(caf::meta::type_name("write_request"), x.writes);
}

}  // namespace wtcache
