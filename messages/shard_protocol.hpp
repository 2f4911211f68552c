// The shard coordinator protocol, spoken by connections (and by shards to
// each other for writes that span shards).
//
//   (atom::get, std::string key, bool cache_checked, int64_t seen) -> lookup
//       Cache first (unless the connection checked it already:
//       core/read_route.hpp); on a miss or tombstone, PostgreSQL (one read
//       of the key at a time, begun after the GET arrived unless the
//       tombstone's version `seen` shows the one out is new enough:
//       core/single_flight.hpp), then a fenced fill.
//   (atom::put, write_request) -> std::vector<write_answer>
//       Group-committed with the shard's other writes; answered after COMMIT
//       and the cache update. One answer per write.
//   (atom::ttl, std::string key) -> lookup
//       The row as PostgreSQL has it now, with its expiry (TTL, PTTL...).
//   (atom::scan, scan_request) -> scan_page
//       SCAN, KEYS, DBSIZE over the rows of every namespace.
//   (atom::committed, std::string key, int64_t version, bool cache_ok)
//       Another shard committed this shard's key (MSET/DEL over several
//       shards): drop single-flight reads of it; mark it dirty if !cache_ok.
//   (atom::dirty, dirty_records, lease_until, overflow)
//       From the dirty-key watch (actors/dirty_watch.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include <caf/actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/cache_protocol.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

struct lookup {
  bool found = false;
  std::string value;
  int64_t expires_ms = -1;  // atom::ttl: the value's expiry (Unix ms), -1 none
  int64_t now_ms = 0;       // atom::ttl: PostgreSQL's clock when it was read
  int64_t version = 0;      // atom::ttl: the row's version (0: absent), for WATCH
};

template <class F>
typename F::result_type inspect(F& f, lookup& x) {
  return f(caf::meta::type_name("lookup"), x.found, x.value, x.expires_ms, x.now_ms, x.version);
}

// One key's write, as messages/store_protocol.hpp's store_op describes it.
struct key_write {
  op_kind kind = op_kind::set;
  std::string key;    // the client's key, prefix included
  std::string value;
  int64_t delta = 0;
  uint8_t flags = 0;  // op_flag::
  // expiry = "value": the value's; "cache": EX/PX/EXAT/PXAT bound the cache copy.
  expiry_change expiry = expiry_change::clear;
  int64_t expiry_ms = 0;
  uint32_t part = 0;  // EXEC: which queued command it belongs to
};

template <class F>
typename F::result_type inspect(F& f, key_write& x) {
  return f(caf::meta::type_name("key_write"), x.kind, x.key, x.value, x.delta, x.flags,
           x.expiry, x.expiry_ms, x.part);
}

// What a write answers, per key: the client's reply is made of these
// (actors/connection.cpp).
struct write_answer {
  int64_t number = 0;   // set: the version; del: rows deleted; incr: the value; append: the length
  bool applied = true;  // the condition held (NX, XX, EXPIRE's flags)
  bool found = false;   // `bulk` is the reply, else nil
  std::string bulk;     // GET's old value, INCRBYFLOAT's result
  std::string error;    // EXEC: this part's refusal (the other parts still apply)
  int64_t version = 0;  // EXEC's reads: the row's version (0: absent)
  int64_t expires_ms = -1, now_ms = 0;  // EXEC's reads: for TTL and its relatives
};

template <class F>
typename F::result_type inspect(F& f, write_answer& x) {
  return f(caf::meta::type_name("write_answer"), x.number, x.applied, x.found, x.bulk, x.error,
           x.version, x.expires_ms, x.now_ms);
}

// One client command's writes: committed together or not at all.
struct write_request {
  std::vector<key_write> writes;
  // EXEC: a transaction of its own (never batched with other commands);
  // each part (key_write::part) succeeds or fails apart, as in Redis, and
  // a watch op that fails rolls all of it back.
  bool transaction = false;
};

template <class F>
typename F::result_type inspect(F& f, write_request& x) {
  return f(caf::meta::type_name("write_request"), x.writes, x.transaction);
}

// The shard coordinator's interface (actors/shard_coordinator.hpp).
using shard_actor = caf::typed_actor<
  // Reads a key: cache, else one database read per key in flight.
  // `cache_checked`: the connection has read Redis already and found no
  // value there (a miss or a tombstone): the shard does not ask again.
  // Then the version of the tombstone it found (0: a miss or unchecked).
  caf::replies_to<atom::get, std::string, bool, int64_t>::with<lookup>,
  // Writes a command's keys in the next group commit.
  caf::replies_to<atom::put, write_request>::with<std::vector<write_answer>>,
  // Reads a key's row with its expiry, never the cache.
  caf::replies_to<atom::ttl, std::string>::with<lookup>,
  // The keyspace (any shard will do: it asks a PostgreSQL worker).
  caf::replies_to<atom::scan, scan_request>::with<scan_page>,
  // Another shard committed one of this shard's keys.
  caf::reacts_to<atom::committed, std::string, int64_t, bool>,
  // A PostgreSQL worker: this shard's transaction `batch` has committed,
  // its cache update and answer are on their way.
  caf::reacts_to<atom::committed_batch, uint64_t>,
  // The supervisor's current pools.
  caf::reacts_to<atom::workers, std::vector<postgres_worker_actor>>,
  caf::reacts_to<atom::workers, std::vector<redis_worker_actor>>,
  // How many workers of each kind this shard knows.
  caf::replies_to<atom::workers>::with<std::vector<uint64_t>>,
  // The other shards of this node (untyped: a typed list would name this
  // type inside its own definition); index = shard number.
  caf::reacts_to<atom::peers, std::vector<caf::actor>>,
  // Timer: retry invalidating dirty keys.
  caf::reacts_to<atom::tick>,
  // The dirty-key watch: this shard's keys in wtcache_dirty_keys, the lease
  // (steady-clock ns) until which the cache may be trusted otherwise, and
  // whether there were more records than one look reads.
  caf::reacts_to<atom::dirty, dirty_records, int64_t, bool>,
  // Timer: replies held until the dirty-key lease ran out may go.
  caf::reacts_to<atom::release, uint64_t>,
  // Timer: give up on a transaction its worker has not answered in time.
  caf::reacts_to<atom::deadline>>;

}  // namespace wtcache
