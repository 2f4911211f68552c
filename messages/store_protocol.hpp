// The PostgreSQL worker protocol.
//
//   (atom::put, std::vector<store_op>, deadline, bool use_cache, invalidation)
//       -> store_outcome
//       One transaction: advisory locks on every row (sorted), then the ops in
//       order. Ops sharing a `group` (one client command) succeed or fail
//       together; a failed group rolls back to its savepoint and the others
//       still commit. Before COMMIT every written key gets a tombstone at its
//       new version through the worker's own Redis connection (unless
//       !use_cache: Redis is known to be down), so that no node serves an
//       older cached value once the transaction is visible, even if the cache
//       update after COMMIT never happens (this process dies, Redis stops
//       answering). When the tombstones cannot be written, the keys are
//       recorded in wtcache_dirty_keys in the same transaction instead
//       (`recorded`), or, with `invalidation::required`, the transaction is
//       rolled back (ec::redis_unavailable). A lost connection during COMMIT
//       is ec::outcome_unknown. Past `deadline` (steady-clock nanoseconds)
//       nothing is started or committed: the answer is ec::timeout and
//       nothing was written. After COMMIT the worker writes each key's
//       newest value into the cache (fenced by version) over the same Redis
//       connection and reports how each write went (`cached`, `cache`): the
//       transaction and its cache update cost the shard one message each way.
//   (atom::get, uint32_t ns, std::string id, deadline) -> store_row
//   (atom::version) -> int64_t      a fresh version, above every committed one
//   (atom::scan, scan_request, deadline) -> scan_page   the keyspace
//   (atom::dirty) -> dirty_records  the keys recorded in wtcache_dirty_keys
//   (atom::clear, dirty_records)    deletes those records at or below the
//                                   given versions (their keys' tombstones landed)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/cache_protocol.hpp"
#include "messages/op_kind.hpp"

namespace wtcache {

struct store_op {
  op_kind kind = op_kind::set;
  uint32_t ns = 0;
  std::string id;     // the row's key (client key without the namespace prefix)
  std::string value;  // set, append, setrange: the bytes; incr_float: the increment
  int64_t delta = 0;  // incr: the increment; setrange: the offset
  uint32_t group = 0;
  uint8_t flags = 0;  // op_flag::
  expiry_change expiry = expiry_change::clear;
  int64_t expiry_ms = 0;
};

template <class F>
typename F::result_type inspect(F& f, store_op& x) {
  return f(caf::meta::type_name("store_op"), x.kind, x.ns, x.id, x.value, x.delta, x.group,
           x.flags, x.expiry, x.expiry_ms);
}

// A SET the batched upsert can take: no condition, nothing to read first,
// and no expiry to store (`stores_expiry`: the namespace keeps expires_at).
inline bool is_plain_set(const store_op& op, bool stores_expiry) {
  return op.kind == op_kind::set && op.flags == 0 &&
         (op.expiry == expiry_change::clear || !stores_expiry);
}

struct store_result {
  std::string error;   // empty on success, else the client error line
  int64_t version = 0;  // the row's new version (del: the tombstone's)
  int64_t count = 0;    // del: rows deleted; incr: the new value; append: the length
  bool has_value = false;  // `value` holds the value as stored (jsonb, incr)
  std::string value;
  bool wrote = true;     // false: the key was left as it was (NX refused...): no version
  bool removed = false;  // the row was deleted: the cache gets a tombstone
  bool applied = true;   // the condition held (NX, XX, EXPIRE GT...)
  bool found = false;    // `bulk` is part of the reply (GET's old value...)
  std::string bulk;
  int64_t expires_ms = -1;  // the row's expiry after the write (Unix ms), -1 none
  int64_t now_ms = 0;       // PostgreSQL's clock when it was decided
  int64_t decided_ns = 0;   // this process's steady clock just before that
  // expiry = "cache", EXPIRE: the cache copy's TTL it sets (ms; 0: drop the
  // copy, leave a tombstone), instead of the namespace's. -1: none given.
  int64_t cache_ttl_ms = -1;
};

template <class F>
typename F::result_type inspect(F& f, store_result& x) {
  return f(caf::meta::type_name("store_result"), x.error, x.version, x.count, x.has_value,
           x.value, x.wrote, x.removed, x.applied, x.found, x.bulk, x.expires_ms, x.now_ms,
           x.decided_ns, x.cache_ttl_ms);
}

// A refusal of one op: nothing of its command was written.
inline store_result refused_result(std::string text) {
  store_result r;
  r.error = std::move(text);
  r.wrote = false;
  return r;
}

struct store_row {
  bool found = false;  // a row, and not expired
  int64_t version = 0;
  std::string value;
  int64_t expires_ms = -1;  // expiry = "value": the row's expiry (Unix ms), -1 none
  int64_t now_ms = 0;       // PostgreSQL's clock when it was read
  int64_t read_ns = 0;      // this process's steady clock just before that
};

template <class F>
typename F::result_type inspect(F& f, store_row& x) {
  return f(caf::meta::type_name("store_row"), x.found, x.version, x.value, x.expires_ms,
           x.now_ms, x.read_ns);
}

// Rows of wtcache_dirty_keys: client key and the version to invalidate at.
struct dirty_records {
  std::vector<std::string> keys;
  std::vector<int64_t> versions;
};

template <class F>
typename F::result_type inspect(F& f, dirty_records& x) {
  return f(caf::meta::type_name("dirty_records"), x.keys, x.versions);
}

// How a write transaction invalidates its keys before it commits, and
// updates the cache after.
struct invalidation {
  std::vector<std::string> keys;  // the client key of each op
  key_layout redis_keys;
  int64_t tombstone_ttl_ms = 60000;
  bool required = false;  // on_cache_failure = "fail": roll back rather than record
  // After COMMIT the worker writes each key's newest value (or tombstone)
  // into the cache itself, with this TTL per op (0: none). Empty: it does
  // not, and reports every key as not cached.
  std::vector<int64_t> cache_ttl_ms;
  // A value that expires sooner than this is not cached: a tombstone goes
  // in instead, so that no older fill can land once the entry is gone.
  int64_t min_cache_ttl_ms = 2000;
  // Test hook, if set: asked (atom::gate, first key) after COMMIT, before
  // the cache update (actors/shard_coordinator.hpp, shard_hooks).
  caf::actor before_cache_write;
  // ack = "after-commit": the worker answers once committed, with the cache
  // update in store_outcome::deferred for the shard to make.
  bool defer_cache_update = false;
  // If set, told (atom::committed_batch, batch) once the transaction has
  // committed, before the cache update: the shard's next transaction need
  // not wait for this one's cache update and answer.
  caf::actor commit_listener;
  uint64_t batch = 0;
  // A batch of SETs may send its cache update beside COMMIT
  // (shard_hooks::cache_update_beside_commit).
  bool beside_commit = false;
};

template <class F>
typename F::result_type inspect(F& f, invalidation& x) {
  return f(caf::meta::type_name("invalidation"), x.keys, x.redis_keys, x.tombstone_ttl_ms,
           x.required, x.cache_ttl_ms, x.min_cache_ttl_ms, x.before_cache_write,
           x.defer_cache_update, x.commit_listener, x.batch, x.beside_commit);
}

struct store_outcome {
  std::vector<store_result> results;
  // The entries could not be marked pending: the written keys are in
  // wtcache_dirty_keys, and the replies must wait out the nodes' leases.
  bool recorded = false;
  // How Redis answered the marks, for the Redis breaker.
  enum redis_reply : int8_t { not_asked, answered, no_answer };
  int8_t redis = not_asked;
  // The cache update after COMMIT: every committed key at its newest
  // version, and what the fenced write of each did (empty when it was not
  // made or Redis did not answer: every key is to be treated as dirty).
  dirty_records cached;
  std::vector<cache_write_result> cache;
  int8_t cache_redis = not_asked;
  // invalidation::defer_cache_update: the cache update not yet made, the
  // writes of `cached` first (in its order), then the releases of marks.
  std::vector<cache_write> deferred;
  // The transaction's pending mark ("": none): a key whose cache update
  // failed keeps it until its dirty-key tombstone takes it away.
  std::string mark;
};

template <class F>
typename F::result_type inspect(F& f, store_outcome& x) {
  return f(caf::meta::type_name("store_outcome"), x.results, x.recorded, x.redis, x.cached,
           x.cache, x.cache_redis, x.deferred, x.mark);
}

// A look at the keyspace: the rows of every namespace, in namespace order
// and within one by key (a keyset: wtcache_scan_cursors remembers where a
// SCAN stopped, so any node can go on with its cursor).
struct scan_request {
  enum what_t : int8_t {
    scan,          // up to `count` rows from `cursor` (0: the start)
    keys,          // every row
    size,          // DBSIZE: how many rows
    default_keys,  // FLUSHDB: up to `count` keys of the default namespace
    expired,       // the reaper: up to `count` keys whose value has expired
  };
  int8_t what = scan;
  uint64_t cursor = 0;
  int64_t count = 10;
  std::string pattern;  // MATCH / KEYS; empty: every key
};

template <class F>
typename F::result_type inspect(F& f, scan_request& x) {
  return f(caf::meta::type_name("scan_request"), x.what, x.cursor, x.count, x.pattern);
}

struct scan_page {
  uint64_t cursor = 0;  // where to go on; 0: done
  std::vector<std::string> keys;  // client keys, prefix included
  int64_t count = 0;    // DBSIZE
};

template <class F>
typename F::result_type inspect(F& f, scan_page& x) {
  return f(caf::meta::type_name("scan_page"), x.cursor, x.keys, x.count);
}

// The PostgreSQL worker's interface (actors/postgres_worker.hpp).
using postgres_worker_actor = caf::typed_actor<
  // One transaction over the ops, by the deadline or not at all.
  caf::replies_to<atom::put, std::vector<store_op>, int64_t, bool, invalidation>::with<
    store_outcome>,
  // Reads one row of a namespace.
  caf::replies_to<atom::get, uint32_t, std::string, int64_t>::with<store_row>,
  // Draws a fresh version.
  caf::replies_to<atom::version>::with<int64_t>,
  // The keys some node could not invalidate in Redis.
  caf::replies_to<atom::dirty>::with<dirty_records>,
  // Those keys are invalidated now (up to the versions given).
  caf::reacts_to<atom::clear, dirty_records>,
  // The keyspace: SCAN, KEYS, DBSIZE, FLUSHDB's keys.
  caf::replies_to<atom::scan, scan_request, int64_t>::with<scan_page>,
  // Readiness: SELECT 1 by the deadline.
  caf::replies_to<atom::probe, int64_t>::with<bool>>;

}  // namespace wtcache
