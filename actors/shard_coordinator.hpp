// The shard coordinator: the single owner of its keys' write path on this
// node (keys are routed by shard_of). Writes: database first, then the
// fenced cache update, then the reply; the writes that arrive while a
// transaction is in flight form the next one (group commit). Reads: cache,
// else one database read per key in flight (single-flight), then a fenced
// fill. Before a transaction commits, its keys get tombstones at their new
// versions (or, when Redis cannot take them, a record in wtcache_dirty_keys
// that every node's dirty-key watch reads). A key whose cache update failed,
// or that another node recorded, is dirty: its reads bypass the cache and a
// retry loop writes a tombstone until Redis accepts it.
// Protocol: messages/shard_protocol.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/response_promise.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/io/typed_broker.hpp>
#include <caf/typed_event_based_actor.hpp>


#include "core/logger_ref.hpp"
#include "core/backoff.hpp"
#include "core/config.hpp"
#include "core/dirty_keys.hpp"
#include "core/enqueue_line.hpp"
#include "core/group_commit.hpp"
#include "core/latency.hpp"
#include "core/namespaces.hpp"
#include "core/node_health.hpp"
#include "core/rerun.hpp"
#include "core/single_flight.hpp"
#include "messages/cache_protocol.hpp"
#include "messages/shard_protocol.hpp"

namespace wtcache {

// Test hooks that make interleavings deterministic. Each, when set, is asked
// (atom::gate, std::string key) -> caf::ok_atom and the shard goes on when
// it answers.
struct shard_hooks {
  caf::actor before_fill;        // after a read-through's database read, before its fill
  caf::actor before_cache_write; // after a write's COMMIT, before its cache update
  // true (the default): a shard's next transaction may go once the one
  // before has committed, when writes are coming in meanwhile; false: it
  // waits for that one to be answered, cache update included (the service
  // tests' gates need that).
  bool release_at_commit = true;
  // true (the default): a batch of SETs sends its cache update beside
  // COMMIT, as values that keep the transaction's mark, released after the
  // answer (measured: p50 0.575 -> 0.479 ms at one client); false: after
  // COMMIT has answered. (Both were off for a while over a stale read the
  // fault suite saw with either on; its cause was a late COMMIT, which
  // the upsert's deadline now rules out: core/namespaces.hpp.)
  bool cache_update_beside_commit = true;
};

struct shard_settings {
  std::size_t index = 0;
  std::size_t shard_count = 1;
  std::shared_ptr<const namespace_table> spaces;
  std::shared_ptr<service_metrics> metrics;
  std::shared_ptr<node_health> health;
  key_layout redis_keys;
  std::chrono::milliseconds default_ttl{3600 * 1000};
  std::chrono::milliseconds tombstone_ttl{60 * 1000};
  std::chrono::milliseconds postgres_timeout{3000};
  std::chrono::milliseconds redis_timeout{1000};
  std::chrono::milliseconds request_timeout{5000};  // the client's deadline
  std::size_t max_batch_ops = 1000;      // operations in one transaction
  std::size_t max_queued_writes = 10000;  // commands waiting; more get -BUSY
  backoff_policy retry_backoff;
  // on_cache_failure = "fail": refuse write-through writes while Redis is down.
  bool refuse_writes_without_cache = false;
  // on_database_failure = "fail": refuse reads while PostgreSQL is down.
  bool refuse_reads_without_database = false;
  // How long a look at wtcache_dirty_keys is trusted (actors/dirty_watch.hpp).
  std::chrono::milliseconds dirty_lease{400};
  // The largest value a write may leave (APPEND, SETRANGE of write-behind
  // keys, which the shard decides).
  std::size_t max_value_bytes = 16 * 1024 * 1024;
  shard_hooks hooks;
  logger_ref log;  // where it logs (config::logger)
};

// The settings the configuration decides. Left to the caller: which shard
// of how many, the namespaces, the figures, node health and the hooks.
shard_settings shard_settings_from(const config& cfg);

struct shard_state {
  static inline const char* name = "shard_coordinator";

  shard_settings cfg;

  // Workers and peers, as the supervisor and the service last announced them.
  std::vector<postgres_worker_actor> postgres_workers;
  std::vector<redis_worker_actor> redis_workers;
  std::vector<shard_actor> peers;
  std::size_t next_postgres = 0, next_redis = 0;

  // The state machines (core/), wired together by shard_coordinator.cpp.
  group_commit<caf::response_promise> writes{0, 0};        // write-through
  std::function<void()> give_up_batch;                     // the batch in flight's failure
  std::function<void()> release_batch;  // the batch in flight's, if its worker says when committed
  enqueue_line<caf::response_promise> queue{0, 0};         // write-behind
  rerun flushing_queue;  // flush_queue's loop (core/rerun.hpp)
  single_flight<caf::response_promise> reads;              // read-through
  dirty_keys dirty;
  // Pending marks of this shard's keys whose cache update failed, each with
  // its write's version: the key's dirty-key tombstone takes them away, or
  // a later write's cache update (else they lapse).
  std::unordered_map<std::string, std::vector<std::pair<std::string, int64_t>>> unreleased_marks;

  // The dirty-key watch's lease (steady-clock ns): cached write-through
  // values are trusted only before it; `dirty_overflow`: the watch saw more
  // records than it reads at once, so none are trusted.
  int64_t lease_until = 0;
  bool dirty_overflow = false;

  // Replies of writes that recorded their keys in wtcache_dirty_keys, held
  // until one lease after their COMMIT.
  std::unordered_map<uint64_t, std::function<void()>> held;
  uint64_t next_held = 1;
  std::minstd_rand rng{std::random_device{}()};

  // Pure rules, unit-testable without an actor system.
  std::string redis_key(const std::string& key) const { return cfg.redis_keys.entry(key); }
  int64_t ttl_ms(std::size_t ns) const;
  int64_t clamp_ttl(int64_t ms) const;
  // The cache copy's TTL after a write (0: none).
  int64_t cache_ttl_of(op_kind kind, expiry_change expiry, int64_t expiry_ms, std::size_t ns) const;
  // The queue op for one key of a write-behind command.
  queued_write make_queued(const key_write& w) const;
  // The cache update of `key`'s write at `version` failed: its mark stays.
  void keep_mark(const std::string& key, const std::string& mark, int64_t version);
  // The cache update of `key`'s write at `version` landed: the kept marks of
  // writes at or below it may go (returned). Those of newer writes stay: two
  // transactions of a shard overlap, so an older write's update can land
  // after a newer one's failed, and the newer mark is what keeps every
  // node's readers off the older copy.
  std::vector<std::string> marks_covered(const std::string& key, int64_t version);
};

// Shards are brokers without connections: CAF runs brokers on its
// multiplexer thread, the one that runs the client connections, so that a
// command's hops between its connection and its shard are calls on one
// thread rather than hand-offs between threads (each a wake-up, and a pipe
// write for the way back). Spawn with caf::io::middleman::spawn_broker.
template <class Handle>
struct broker_for;
template <class... Sigs>
struct broker_for<caf::typed_actor<Sigs...>> {
  using type = caf::io::typed_broker<Sigs...>;
};
using shard_self = caf::stateful_actor<shard_state, broker_for<shard_actor>::type>;

shard_actor::behavior_type shard_coordinator(shard_self* self, shard_settings cfg);

}  // namespace wtcache
