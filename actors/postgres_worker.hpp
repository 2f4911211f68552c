// The PostgreSQL worker: owns one libpqxx connection and is the only code
// that talks to PostgreSQL. libpqxx blocks, so it is always spawned detached.
// It reconnects by itself on the next request after a lost connection.
// Protocol: messages/store_protocol.hpp.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction_base>

#include "actors/redis_worker.hpp"
#include "core/latency.hpp"
#include "core/namespaces.hpp"
#include "messages/store_protocol.hpp"


namespace wtcache {

// libpqxx 6.4 keeps the libpq handle to itself; its connection policy is
// the one place that sees it, once, as it connects (on the worker's thread).
class handle_seeing_connect : public pqxx::connect_direct {
public:
  explicit handle_seeing_connect(const std::string& opts) : pqxx::connect_direct(opts) {}
  handle do_startconnect(handle orig) override;
};

// Held as itself: pqxx::connection_base has no virtual destructor, and only
// this type's destructor closes the connection.
using worker_connection = pqxx::basic_connection_base<handle_seeing_connect>;

struct postgres_worker_state {
  static inline const char* name = "postgres_worker";

  std::string url;
  std::shared_ptr<const namespace_table> spaces;
  std::shared_ptr<service_metrics> metrics;  // null: reports none (the dirty-key watch's)
  std::chrono::milliseconds statement_timeout{3000};
  std::unique_ptr<worker_connection> conn;
  // The same connection as libpq sees it, for what libpqxx 6.4 cannot do:
  // pipelining (BEGIN and a batch's statement in one round trip). Set with
  // `conn` by connect(), used only right after it succeeded.
  pqxx::internal::pq::PGconn* raw = nullptr;
  // Its own Redis connection, for the tombstones a transaction puts in
  // before it commits and the cache update after: round trips from this
  // thread instead of hand-offs to a Redis worker and back.
  redis_worker_state cache;

  postgres_worker_state();
  ~postgres_worker_state();

  // A write in two steps, so that the cache can be invalidated between them
  // with the rows locked. run_ops: BEGIN, the row locks, the ops; leaves the
  // transaction open (in_transaction) when any command succeeded, else rolls
  // it back. commit: records `record` in wtcache_dirty_keys (unless
  // `refuse_to_record`: then it rolls back) and commits. `deadline`:
  // steady-clock nanoseconds; past it the transaction is rolled back
  // instead of committed.
  caf::expected<std::vector<store_result>> run_ops(const std::vector<store_op>& ops,
                                                   int64_t deadline);
  caf::error commit(const dirty_records& record, bool refuse_to_record, int64_t deadline);
  bool in_transaction = false;

  caf::expected<store_row> read(uint32_t ns, const std::string& id);
  caf::expected<int64_t> fresh_version();
  caf::expected<bool> probe();
  caf::expected<dirty_records> dirty_keys(std::size_t limit);
  caf::error clear_dirty(const dirty_records& done);

private:
  caf::error connect();
  // One call outside a transaction, connecting first; a lost connection is
  // dropped (the next call connects again), an error becomes ours.
  template <class F>
  auto alone(F f) -> caf::expected<decltype(f(std::declval<pqxx::nontransaction&>()))>;
  // Group commit's fast path: every op is a SET, in more than one
  // namespace. Takes the row locks, draws the versions, and writes each
  // namespace's rows with one statement.
  void upsert_all(pqxx::transaction_base& tx, const std::vector<store_op>& ops,
                  const std::vector<int64_t>& locks, std::vector<store_result>& results);
  // The same for SETs of one namespace, with BEGIN in the same round trip
  // (libpq pipeline mode). Throws as libpqxx would.
  void begin_and_upsert(const std::vector<store_op>& ops, const std::vector<int64_t>& locks,
                        std::vector<store_result>& results);
  // Ends a failed transaction so the connection can be reused.
  void abandon_transaction();
};

postgres_worker_actor::behavior_type
postgres_worker(postgres_worker_actor::stateful_pointer<postgres_worker_state> self, std::string url,
                std::shared_ptr<const namespace_table> spaces,
                std::chrono::milliseconds statement_timeout, redis_endpoint redis,
                std::chrono::milliseconds redis_timeout,
                std::shared_ptr<service_metrics> metrics);

// The most dirty-key records one poll reads; more than that and every
// write-through read bypasses the cache until fewer remain.
constexpr std::size_t max_dirty_records = 10000;

// Redis's integer rules for INCR: optional '-', digits, no spaces, fits int64.
bool parse_redis_integer(const std::string& s, int64_t& out);

}  // namespace wtcache
