// The PostgreSQL worker: owns one PostgreSQL session
// (backends/postgres_session.hpp) and runs the shards' transactions and
// row reads on it. libpqxx blocks, so it is always spawned detached. It
// also owns a Redis connection of its own, for the pending marks a
// transaction puts in before it commits and the cache update after: round
// trips from this thread instead of hand-offs to a Redis worker and back.
// Protocol: messages/store_protocol.hpp.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <pqxx/transaction_base>


#include "core/logger_ref.hpp"
#include "backends/endpoints.hpp"
#include "backends/postgres_session.hpp"
#include "backends/redis_connection.hpp"
#include "core/latency.hpp"
#include "core/namespaces.hpp"
#include "messages/cache_protocol.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

struct postgres_worker_settings {
  std::string url;  // with connection timeouts
  std::shared_ptr<const namespace_table> spaces;
  std::chrono::milliseconds statement_timeout{3000};
  redis_endpoint redis;  // for the cache writes around a transaction
  std::chrono::milliseconds redis_timeout{1000};
  std::shared_ptr<service_metrics> metrics;  // null: reports none (the dirty-key watch's)
  std::size_t max_value_bytes = 16 * 1024 * 1024;  // the longest APPEND and SETRANGE leave
  logger_ref log;  // where it logs (config::logger)
};

struct postgres_worker_state {
  static inline const char* name = "postgres_worker";

  std::shared_ptr<const namespace_table> spaces;
  std::shared_ptr<service_metrics> metrics;
  logger_ref log;
  postgres_session db;
  redis_connection cache;
  // The last transaction's releases of its marks, sent after its answer
  // and not waited for (their replies are read before the connection's
  // next call): the worker takes its next request at once, and a sleep
  // per transaction goes.
  std::vector<cache_write> owed_releases;
  std::size_t max_value_bytes = 16 * 1024 * 1024;

  // A write in two steps, so that the cache can be invalidated between them
  // with the rows locked. run_ops: BEGIN, the row locks, the ops; leaves the
  // transaction open (in_transaction) when any command succeeded, else rolls
  // it back. commit: records `record` in wtcache_dirty_keys (unless
  // `refuse_to_record`: then it rolls back) and commits. `deadline`:
  // steady-clock nanoseconds; past it the transaction is rolled back
  // instead of committed.
  // `may_commit` (if any): called once a batch of SETs of one namespace
  // has gone out, true when the cache is guarded (its entries are marked
  // pending); the batch then commits in the same round trip as its
  // statements, and `committed` says it did.
  caf::expected<std::vector<store_result>> run_ops(const std::vector<store_op>& ops,
                                                   int64_t deadline,
                                                   const std::function<bool()>& may_commit = {});
  caf::error commit(const dirty_records& record, bool refuse_to_record, int64_t deadline);
  // Whether run_ops deletes `ops` (not empty) with one statement: plain
  // DELs of distinct keys of one namespace whose key column is text.
  bool batch_removes(const std::vector<store_op>& ops) const;
  bool in_transaction = false;
  bool committed = false;
  // Called (if set) once a batch's statement has answered with COMMIT on
  // its way: its results, versions drawn. It must not throw.
  std::function<void(const std::vector<store_result>&)> on_versions;

  // A fresh id for a transaction's pending mark, unique across workers
  // and nodes (a random part per worker, then a count).
  std::string next_mark();
  std::string mark_base;
  uint64_t marks_made = 0;
  std::chrono::milliseconds statement_timeout{3000};
  // Per namespace: its key column is text (a key means itself, no cast).
  std::vector<bool> text_keys;

  caf::expected<store_row> read(uint32_t ns, const std::string& id);
  caf::expected<int64_t> fresh_version();
  caf::expected<bool> probe();
  caf::expected<dirty_records> dirty_keys(std::size_t limit);
  caf::expected<scan_page> scan(const scan_request& req, int64_t deadline);
  caf::error clear_dirty(const dirty_records& done);

private:
  // Opens the session and prepares the statements, unless it is open.
  caf::error connect();
  // Runs `f` outside any transaction (row reads, the keyspace): a statement
  // timeout is ec::timeout, another refusal ec::postgres_error, and a lost
  // session is dropped. `f` returns a caf::expected.
  template <class F>
  auto read_alone(F f) -> decltype(f(std::declval<pqxx::nontransaction&>()));
  // One op that reads its row first (under the transaction's row lock),
  // decides (core/string_ops.hpp) and writes what was decided. Throws
  // group_failure for a refusal.
  void decide_and_write(pqxx::transaction_base& tx, const store_op& op, store_result& out);
  // Group commit's fast path: every op is a SET, in more than one
  // namespace. Takes the row locks, draws the versions, and writes each
  // namespace's rows with one statement.
  void upsert_all(pqxx::transaction_base& tx, const std::vector<store_op>& ops,
                  const std::vector<int64_t>& locks, std::vector<store_result>& results);
  // The same for SETs of one namespace, with BEGIN in the same round trip
  // (libpq pipeline mode), and COMMIT too if `may_commit` (asked once the
  // statement is on its way) says so by `deadline`; returns whether it
  // committed. Throws as libpqxx would; pqxx::in_doubt_error when the
  // connection went with COMMIT sent.
  bool begin_and_upsert(const std::vector<store_op>& ops, const std::vector<int64_t>& locks,
                        std::vector<store_result>& results, const std::function<bool()>& may_commit,
                        int64_t deadline);
};

postgres_worker_actor::behavior_type
postgres_worker(postgres_worker_actor::stateful_pointer<postgres_worker_state> self,
                postgres_worker_settings cfg);

// The most dirty-key records one poll reads; more than that and every
// write-through read bypasses the cache until fewer remain.
constexpr std::size_t max_dirty_records = 10000;

}  // namespace wtcache
