// The write-behind writer: drains its share of a write-behind namespace's
// streams into PostgreSQL. Each hash-tag group of the key layout has a stream
// of its own (core/key_layout.hpp); writer i of n drains the groups g with
// g mod n = i. It owns a Redis and a PostgreSQL connection of its own (both
// drivers block, so it is spawned detached) and loops:
//
//   read entries with the consumer group, one XREADGROUP for all its
//   streams (on a Redis Cluster one per stream, pipelined), its own pending
//   ones first, up to batch_size or until flush_interval has passed since
//   the first arrived;
//   coalesce them to the newest entry per key; apply them in one transaction
//   that only ever moves a row forward (replays are no-ops); acknowledge and
//   delete the entries and unpin their cache entries, only after COMMIT.
//
// A transient failure (connection lost, timeout) keeps the batch and tries
// again after an exponential backoff with jitter. An entry PostgreSQL
// refuses for good (SQLSTATE class 22 data exception, 23 constraint) goes to
// wtcache_dead_letters with its key and the error, its cache entry becomes a
// tombstone, and the rest of the batch commits.
//
// Only one writer per share drains it at a time, across nodes: it holds a
// PostgreSQL session advisory lock while it does, and unlocks it before it
// closes its session on exit (PostgreSQL frees a closed session's locks only
// once its backend has gone, a moment later). A standby writer polls for the
// lock (every second; while a flush waits, every 50 ms) and takes the streams
// over, claiming the pending entries, when the owner's connection goes away.
// Protocol: messages/queue_protocol.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>


#include "core/logger_ref.hpp"
#include "backends/endpoints.hpp"
#include "backends/postgres_session.hpp"
#include "backends/redis_connection.hpp"
#include "core/backoff.hpp"
#include "core/config.hpp"
#include "core/key_layout.hpp"
#include "core/latency.hpp"
#include "core/namespaces.hpp"
#include "messages/queue_protocol.hpp"

namespace wtcache {

struct writer_settings {
  namespace_config ns;
  std::size_t writer_index = 0;  // of ns.writers
  key_layout layout;
  redis_endpoint redis;
  std::string postgres_url;
  std::chrono::milliseconds redis_timeout{1000};
  std::chrono::milliseconds postgres_timeout{3000};
  std::chrono::milliseconds tombstone_ttl{60000};
  backoff_policy backoff;
  std::shared_ptr<write_behind_metrics> metrics;
  // The node's figures, for its Redis connection's redirections.
  std::shared_ptr<service_metrics> node_metrics;
  logger_ref log;  // where it logs (config::logger)
};

// The settings of writer `writer` of namespace `ns`, as the configuration
// decides them. Left to the caller: the queue's figures.
writer_settings writer_settings_from(const config& cfg, const namespace_config& ns,
                                     std::size_t writer);

// The groups writer `writer` of `writers` drains.
std::vector<std::size_t> groups_of_writer(std::size_t writer, std::size_t writers,
                                          std::size_t groups);
// How reports and logs name what that writer drains.
std::string writer_streams_name(const key_layout& layout, const std::string& table,
                                std::size_t writer, std::size_t writers);

// How long a writer on a Redis Cluster waits after `rounds` reads in a row
// found nothing: half the flush interval (1 to 50 ms), doubled per round, at
// most 250 ms.
std::chrono::milliseconds idle_delay(std::chrono::milliseconds flush_interval, unsigned rounds);

// The consumer group every writer reads with.
inline constexpr const char* writer_group = "wtcache";

struct writer_state {
  static inline const char* name = "write_behind_writer";

  writer_settings cfg;
  struct stream_state {
    std::string key, stats;       // a group's stream and its counters
    bool reading_pending = true;  // our delivered, unacknowledged entries come first
  };
  std::vector<stream_state> streams;
  std::string share;             // writer_streams_name
  std::size_t next_read = 0;     // where the next read round starts (round robin)
  int64_t lock_key = 0;          // the streams' advisory lock
  redis_connection redis;
  postgres_session db;
  bool owner = false;            // holds the streams' lock
  bool idle = false;             // the last read found nothing (and did not wait)
  unsigned idle_rounds = 0;      // reads in a row that found nothing

  struct entry {
    std::size_t stream = 0;  // of `streams`
    std::string id;
    std::string key;      // the client's key
    std::string version;  // as Redis wrote it
    char op = 's';        // 's' set, 'd' delete, 0: deleted from the stream, ack only
    std::string data;
    int64_t ttl_ms = 0;
    int64_t expires_ms = -1;  // expiry = "value": when the value expires (Unix ms)
    int64_t bytes = 0;
    // Filled in by the transaction (kept should the settle step be retried):
    std::string stored;  // jsonb: the row's text as PostgreSQL normalised it
    std::string dead;    // why PostgreSQL refused it for good (a dead letter)
  };
  std::vector<entry> batch;
  bool batch_committed = false;  // in PostgreSQL, not acknowledged yet
  std::chrono::steady_clock::time_point window_end;  // the batch is written by then
  bool topped_up = false;        // the batch took what the stream had at window_end
  uint64_t tick = 0;             // the one tick that drives the loop

  unsigned attempt = 0;          // consecutive failures
  std::string failing;           // what failed, while it does (logged once)
  std::minstd_rand rng{std::random_device{}()};
  std::chrono::steady_clock::time_point last_stats;

  std::optional<caf::response_promise> flush_promise;
  int64_t flush_deadline = 0;

  writer_state();
  ~writer_state();

  // Connects both backends, takes the streams' lock if free; a caf::error
  // when a backend is unreachable.
  caf::error ensure_ready();
  // One XREADGROUP of the streams (`only_pending`: of those still reading
  // their pending entries), from `from` ("0" our pending entries, ">" new
  // ones), waiting up to `block` for the first, into the batch up to
  // batch_size; what does not fit stays pending in Redis. Returns how many
  // entries it added.
  caf::expected<std::size_t> read_round(const char* from, bool only_pending,
                                        std::chrono::milliseconds block);
  bool any_pending() const;
  void all_pending();
  // Reads entries into the batch: when it is empty, blocking briefly for
  // the first; at the end of its window, what has come since (up to
  // batch_size). `flushing`: take what is there, wait for nothing.
  caf::error read_batch(bool flushing);
  // Full, or topped up at the end of its flush interval.
  bool batch_ready() const;
  // Applies the batch, then acknowledges it.
  caf::error persist();
  // Reads the namespace's queue figures for the metrics; false when Redis
  // did not answer (the figures keep their last values).
  bool refresh_stats();
  // What Redis holds of the streams now (XLEN, XPENDING, summed). A connection that
  // turns out to be dead (Redis restarted since its last use) is opened
  // again once before the report says Redis could not be asked.
  stream_report read_queue();
  // Forgets the PostgreSQL connection, and with it the streams' lock.
  void lose_postgres();
  // Unlocks the streams, if held, and closes the PostgreSQL session.
  void release_stream();
  // The session holding the streams' lock is still alive (so is the lock).
  bool still_owner();
};

writer_actor::behavior_type write_behind_writer(writer_actor::stateful_pointer<writer_state> self,
                                                writer_settings cfg);

}  // namespace wtcache
