// The Redis worker protocol: versioned cache entries, read and written through
// the fence script so that no write can move an entry to an older version.
//
//   (atom::get, std::vector<std::string> redis_keys, deadline) -> std::vector<cache_entry>
//   (atom::put, std::vector<cache_write>, deadline)          -> std::vector<cache_write_result>
//   (atom::enqueue, key layout, std::vector<queued_write>, deadline) -> std::vector<queued_result>
//       Write-behind: one script call runs the commands in order; each
//       command (ops sharing a `group`) updates its cache entries and appends
//       its changes to the write-behind streams atomically, or changes
//       nothing. A failure after the call was sent is ec::outcome_unknown.
//
// `deadline` is steady-clock nanoseconds: a request that waited in the
// worker's mailbox past it is answered with ec::timeout instead of being run
// late (a late fill could otherwise land after its tombstone expired).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "core/deadline.hpp"
#include "core/key_layout.hpp"
#include "messages/atoms.hpp"
#include "messages/op_kind.hpp"

namespace wtcache {

struct cache_entry {
  bool present = false;    // a value or a tombstone is there
  // "nothing newer than `version` is known": read the database. An entry
  // marked pending by a write in flight reads as a tombstone at version 0.
  bool tombstone = false;
  bool deleted = false;    // write-behind DEL: the key does not exist (at `version`)
  int64_t version = 0;
  std::string data;
  // Write-behind, expiry = "value": when the value expires (Unix ms; -1
  // never). The entry of a pending value stays pinned past it (the row may
  // still hold an older value), so its readers judge it: see absent_at().
  int64_t expires_ms = -1;
};

template <class F>
typename F::result_type inspect(F& f, cache_entry& x) {
  return f(caf::meta::type_name("cache_entry"), x.present, x.tombstone, x.deleted, x.version,
           x.data, x.expires_ms);
}

// A value or DEL entry that says the key is absent at `now_ms` (Unix ms):
// a write-behind DEL, or a value whose expiry has passed.
inline bool absent_at(const cache_entry& e, int64_t now_ms) {
  return e.deleted || expired_by(e.expires_ms, now_ms);
}

// The shortest TTL an entry may get: it must outlive any fill that read an
// older row and is still on its way (a fill runs within the Redis timeout
// of being sent, or not at all); once the entry expired, the fence could
// no longer stop that fill.
inline int64_t shortest_entry_ttl_ms(std::chrono::nanoseconds redis_timeout) {
  return 2 * std::chrono::duration_cast<std::chrono::milliseconds>(redis_timeout).count();
}

struct cache_write {
  std::string redis_key;
  int64_t version = 0;
  bool tombstone = false;
  std::string data;
  int64_t ttl_ms = 0;  // 0: no expiry (tombstones always get one)
  // A value that expires (expiry = "value"): the steady-clock time (ns) it
  // is gone by. The entry's TTL is cut to it when the write is made, and a
  // write that would live less than twice the Redis timeout is not made,
  // so that the entry never outlives the value and never leaves a fence
  // too short-lived to stop an older fill.
  int64_t expire_by_ns = 0;
  // A write-behind value that expires (expiry = "value"): its expiry (Unix
  // ms) for the entry's field e, which the shard decides from (the entry
  // then holds the key's newest state); -1: none.
  int64_t expires_ms = -1;
  // The pending mark (backends/scripts/mark.lua) of the transaction this
  // write is the cache update of, which it takes away ("": none, as for a
  // fill, which a live mark refuses). `release`: only take the mark away
  // (a key the transaction did not write after all).
  std::string mark;
  bool release = false;
  // A value written while its transaction's COMMIT is on its way: the
  // entry takes it but keeps the mark, so no reader trusts it until a
  // release (`release`, the same mark) follows once COMMIT has answered.
  // Refused (not applied) when the mark is no longer there.
  bool pending = false;
};

template <class F>
typename F::result_type inspect(F& f, cache_write& x) {
  return f(caf::meta::type_name("cache_write"), x.redis_key, x.version, x.tombstone, x.data,
           x.ttl_ms, x.expire_by_ns, x.expires_ms, x.mark, x.release, x.pending);
}

enum class cache_write_result : int8_t {
  applied,  // the entry now holds this version
  fenced,   // an entry at this or a newer version was there; nothing changed
  failed,   // Redis refused it (the entry is unknown: treat the key as dirty)
};

// One key of a write-behind command.
struct queued_write {
  uint32_t group = 0;       // the client command; its ops apply together or not at all
  op_kind kind = op_kind::set;
  std::string key;          // the client's key, as the queue entry carries it
  std::string value;        // set
  int64_t delta = 0;        // incr
  int64_t ttl_ms = 0;       // the cache TTL once the change is in PostgreSQL (0: none)
  // The command as the client sent it, for those the shard decides
  // (core/string_ops.hpp); the script sees only the SETs and DELs decided.
  uint8_t flags = 0;        // op_flag::
  expiry_change expiry = expiry_change::clear;
  int64_t expiry_ms = 0;
  uint32_t part = 0;        // EXEC: which queued command it belongs to
  std::string redis_key;    // the cache entry
  std::string stream;       // the queue stream it is appended to
  std::string stats;        // its namespace's queue counters
  int64_t max_entries = 0, max_bytes = 0, low_entries = 0, low_bytes = 0;
  // INCR and DEL need the key's current value; when the cache has none the
  // shard reads the row and sends the command again with it.
  enum load_state : int8_t { not_loaded, loaded_found, loaded_absent };
  int8_t loaded = not_loaded;
  std::string loaded_value;
  int64_t loaded_version = 0;  // the row's: new versions go above it
  // A command the shard decided (core/string_ops.hpp) is written only if
  // the entry it decided from is still there: -1 no such condition; 0 no
  // pending or cached value or DEL (the row decided); else its version.
  int64_t expect = -1;
  // expiry = "value": when the value written expires (Unix ms; -1 never).
  // The entry and the queue entry carry it; the writer stores it in the row.
  int64_t expires_ms = -1;
  // The shard decides it from the key's newest state (SET NX, APPEND, and in
  // an expiry = "value" namespace all but a plain SET); else the script does.
  bool decided = false;
};

template <class F>
typename F::result_type inspect(F& f, key_layout& x) {
  return f(caf::meta::type_name("key_layout"), x.prefix, x.groups);
}

template <class F>
typename F::result_type inspect(F& f, queued_write& x) {
  return f(caf::meta::type_name("queued_write"), x.group, x.kind, x.key, x.value, x.delta,
           x.ttl_ms, x.flags, x.expiry, x.expiry_ms, x.part, x.redis_key, x.stream, x.stats,
           x.max_entries, x.max_bytes, x.low_entries,
           x.low_bytes, x.loaded, x.loaded_value, x.loaded_version, x.expect, x.expires_ms,
           x.decided);
}

enum class queued_status : int8_t {
  done,        // in the cache and the queue; `version`, and `count` (DEL, INCR)
  busy,        // the namespace's queue is full; nothing changed
  refused,     // `error` (INCR of a non-integer...); nothing changed
  needs_load,  // this op needs the row's current value; nothing changed
  not_run,     // an earlier command needed a load; send it again
  changed,     // the entry a decided command expected has changed; nothing changed
  unknown,     // its call (one slot's, on a Redis Cluster) went out and got no
               // answer (or an error after it may have written): it may
               // have run; `error` says why
  unavailable, // its call (one slot's) did not run: the slot's master could
               // not be reached or refused it (TRYAGAIN...); `error` says why
};

struct queued_result {
  queued_status status = queued_status::not_run;
  int64_t version = 0;
  int64_t count = 0;
  std::string error;
};

template <class F>
typename F::result_type inspect(F& f, queued_result& x) {
  return f(caf::meta::type_name("queued_result"), x.status, x.version, x.count, x.error);
}

// Sockets for the cache reader: one Redis's, or one per master of a Redis
// Cluster with the slot map (`slot_socket[slot]`: the index in `fds` of the
// slot's master, no_socket for a slot no master serves; empty on one Redis).
struct redis_sockets {
  static constexpr uint16_t no_socket = 0xFFFF;
  std::vector<int32_t> fds;
  std::vector<uint16_t> slot_socket;
};

template <class F>
typename F::result_type inspect(F& f, redis_sockets& x) {
  return f(caf::meta::type_name("redis_sockets"), x.fds, x.slot_socket);
}

// The figures of a probe's answer, by index; -1 where not known (the
// cluster's on a single Redis). Memory and evictions are summed over a
// cluster's masters.
namespace redis_figure {
enum : std::size_t {
  used_memory,
  evicted_keys,
  cluster_ok,           // CLUSTER INFO cluster_state: 1 ok, 0 fail
  cluster_slots_ok,     // slots served, as the cluster says
  cluster_known_nodes,  // masters and replicas it knows
  cluster_masters,      // masters of this worker's slot map
  cluster_masters_up,   // of them, those that answered
  count
};
}  // namespace redis_figure

// The Redis worker's interface (actors/redis_worker.hpp).
using redis_worker_actor = caf::typed_actor<
  // Reads entries; one per key, in order.
  caf::replies_to<atom::get, std::vector<std::string>, int64_t>::with<std::vector<cache_entry>>,
  // Writes entries through the fence script; one result per write, in order.
  caf::replies_to<atom::put, std::vector<cache_write>, int64_t>::with<
    std::vector<cache_write_result>>,
  // Write-behind commands: cache and queue in one atomic script call each.
  caf::replies_to<atom::enqueue, key_layout, std::vector<queued_write>, int64_t>::with<
    std::vector<queued_result>>,
  // Opens Redis connections (authenticated, the database selected) and
  // hands over their sockets: the cache reader reads the cache over them
  // without blocking (actors/cache_reader.hpp). Connecting blocks, so it is
  // done here. The sockets are the caller's to close; those ready only
  // after the deadline are closed here instead, since the caller no longer
  // waits.
  caf::replies_to<atom::open, int64_t>::with<redis_sockets>,
  // Readiness and Redis's own figures (INFO memory and stats, and a Redis
  // Cluster's CLUSTER INFO), answered by redis_figure index.
  caf::replies_to<atom::probe, int64_t>::with<std::vector<int64_t>>,
  // To itself: run the reads gathered so far as one pipeline.
  caf::reacts_to<atom::flush>>;

// What a connection reads cache hits from: the cache reader
// (actors/cache_reader.hpp) or, while it has no connection, a Redis worker.
using cache_read_actor = caf::typed_actor<
  caf::replies_to<atom::get, std::vector<std::string>, int64_t>::with<std::vector<cache_entry>>>;

}  // namespace wtcache
