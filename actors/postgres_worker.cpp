// The PostgreSQL worker: transactions with their tombstones and cache update, row reads.
#include "actors/postgres_worker.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <utility>

#include <caf/behavior.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <libpq-fe.h>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "backends/redis_cache.hpp"
#include "core/glob.hpp"
#include "core/json.hpp"
#include "core/string_ops.hpp"
#include "core/deadline.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"

namespace wtcache {

namespace {

// A client-visible refusal raised inside a group; rolls the group back.
struct group_failure {
  std::string text;
};

// The batch's deadline passed before it could commit.
struct deadline_passed {};

// The upsert sent with its COMMIT found a key's lock taken and wrote nothing.
struct locks_busy {};

// EXEC: a watched key changed since WATCH; the transaction does nothing.
struct watch_failed {};

std::string stmt(const char* kind, uint32_t ns) {
  return std::string(kind) + std::to_string(ns);
}

// Fenced writes are idempotent, so a connection found dead (Redis restarted
// since this worker last used it: the failure comes at once) gets one fresh
// try. A timeout does not: before COMMIT the rows stay locked meanwhile.
caf::expected<std::vector<cache_write_result>>
put_fenced(redis_connection& cache, const std::vector<cache_write>& writes,
           service_metrics* m, spdlog::logger& log) {
  busy_call timed(m, nullptr, &service_metrics::cache_write_latency);
  auto started = std::chrono::steady_clock::now();
  auto rs = write_fenced(cache, writes, log);
  if (!rs && rs.error() == ec::redis_unavailable &&
      std::chrono::steady_clock::now() - started < cache.timeout() / 2)
    rs = write_fenced(cache, writes, log);
  return rs;
}

// Client key -> the index of its last successful op.
std::map<std::string, std::size_t> newest_ops(const std::vector<store_op>& ops,
                                              const invalidation& inv,
                                              const std::vector<store_result>& results) {
  std::map<std::string, std::size_t> newest;
  for (std::size_t k = 0; k < ops.size(); ++k)
    if (results[k].error.empty() && results[k].wrote)
      newest[inv.keys[k]] = k;
  return newest;
}

// Each committed key's newest value as stored (jsonb normalised, INCR's
// sum), or a tombstone for DEL; in the order of `newest`.
std::vector<cache_write> cache_writes(const std::vector<store_op>& ops, const invalidation& inv,
                                      const std::vector<store_result>& results,
                                      const std::map<std::string, std::size_t>& newest) {
  std::vector<cache_write> writes;
  writes.reserve(newest.size());
  for (auto& [key, k] : newest) {
    cache_write w;
    w.redis_key = inv.redis_keys.entry(key);
    w.version = results[k].version;
    const auto& r = results[k];
    // The cache copy never outlives the value: its TTL ends with the
    // value's expiry, and a value about to expire is not cached at all.
    int64_t left = -1;
    if (r.expires_ms >= 0) {
      w.expire_by_ns = r.decided_ns + (r.expires_ms - r.now_ms) * 1'000'000;
      left = (w.expire_by_ns - std::chrono::steady_clock::now().time_since_epoch().count()) /
             1'000'000;
    }
    bool dropped = r.cache_ttl_ms == 0;  // EXPIRE to a time past: the copy goes
    if (r.removed || dropped || (left >= 0 && left < inv.min_cache_ttl_ms)) {
      w.tombstone = true;
      w.ttl_ms = inv.tombstone_ttl_ms;
      w.expire_by_ns = 0;
    } else {
      w.data = r.has_value ? r.value : ops[k].value;
      w.ttl_ms = r.cache_ttl_ms > 0 ? std::max(r.cache_ttl_ms, inv.min_cache_ttl_ms)
                                    : inv.cache_ttl_ms[k];
    }
    writes.push_back(std::move(w));
  }
  return writes;
}

// How a failed Redis call counts for the breaker: an error reply (a script
// error) means Redis is up, just refusing.
int8_t reply_of(const caf::error& err) {
  return err == ec::redis_error ? store_outcome::answered : store_outcome::no_answer;
}

// The cache update: the committed keys' writes first, in the order of
// outcome.cached, then the releases of marks (add_releases).
// It never throws: past COMMIT the shard may no longer watch the batch
// (committed_batch), and a CAF 0.17 handler that throws leaves its request
// unanswered; a failure is a cache update that did not land (dirty keys).
void update_cache(postgres_worker_state& st, const std::vector<cache_write>& writes,
                  store_outcome& outcome) noexcept try {
  auto rs = put_fenced(st.cache, writes, st.metrics.get(), *st.log);
  if (!rs) {
    outcome.cache_redis = reply_of(rs.error());
    return;
  }
  outcome.cache_redis = store_outcome::answered;
  if (rs->size() == writes.size()) {
    rs->resize(outcome.cached.keys.size());
    outcome.cache = std::move(*rs);
  }
} catch (const std::exception& e) {
  st.log->warn("redis: the cache update after COMMIT failed: {}", e.what());
  outcome.cache.clear();
  outcome.cache_redis = store_outcome::no_answer;
}

// A transaction's pending mark: its id ("" when none is in) and the entries
// it is on. The call goes out before the transaction's statements and its
// answer is read before COMMIT (`landed`), so that the two round trips
// overlap.
struct marking {
  std::string id;
  std::vector<std::string> entries;  // Redis keys, sorted, each once
  int8_t redis = store_outcome::not_asked;
  bool in_flight = false;  // sent, its answer not read yet
  int64_t lifetime_ms = 0;
  // The time spent on the call, sending and waiting for the answer (not
  // the PostgreSQL work between).
  std::chrono::steady_clock::duration spent{};
};

// A mark outlives its transaction and the fills in flight beside it: the
// transaction starts by `deadline` and each statement (the COMMIT too) runs
// within the statement timeout, and a fill lands within twice the Redis
// timeout or not at all (shortest_entry_ttl_ms). Past that, its writer is
// gone, and fence.lua may drop it.
int64_t mark_lifetime_ms(const postgres_worker_state& st, const invalidation& inv,
                         int64_t deadline) {
  using namespace std::chrono;
  auto left = std::max<int64_t>(0, (deadline - steady_clock::now().time_since_epoch().count()) /
                                       1'000'000);
  auto outlives = left + 2 * st.statement_timeout.count() +
                  shortest_entry_ttl_ms(st.cache.timeout()) + 1000;
  return std::max(inv.tombstone_ttl_ms, outlives);
}

void marked(postgres_worker_state& st, marking& marks, caf::error err) {
  marks.in_flight = false;
  if (st.metrics)
    st.metrics->cache_write_latency.observe(marks.spent);
  if (err) {
    st.log->debug("redis: could not mark {} entr(ies) pending: {}", marks.entries.size(),
                  client_error_text(err));
    marks.redis = reply_of(err);
    marks.entries.clear();
    marks.id.clear();
    return;
  }
  marks.redis = store_outcome::answered;
}

// Runs one attempt `f` of the mark's call; a connection found dead (Redis
// restarted since: the failure comes at once, not after a timeout) gets one
// fresh try with `again`, as fenced writes do; marking twice is harmless.
template <class F, class G>
caf::error attempt(postgres_worker_state& st, marking& marks, F f, G again) {
  using clock = std::chrono::steady_clock;
  auto started = clock::now();
  auto err = f();
  auto took = clock::now() - started;
  if (err == ec::redis_unavailable && took < st.cache.timeout() / 2) {
    started = clock::now();
    err = again();
    took += clock::now() - started;
  }
  marks.spent += took;
  return err;
}

// Sends the mark; its answer is read by `landed`.
marking start_marking(postgres_worker_state& st, const invalidation& inv, int64_t deadline) {
  marking marks;
  marks.entries.reserve(inv.keys.size());
  for (auto& key : inv.keys)
    marks.entries.push_back(inv.redis_keys.entry(key));
  std::sort(marks.entries.begin(), marks.entries.end());
  marks.entries.erase(std::unique(marks.entries.begin(), marks.entries.end()),
                      marks.entries.end());
  marks.id = st.next_mark();
  marks.lifetime_ms = mark_lifetime_ms(st, inv, deadline);
  auto send = [&] { return send_mark(st.cache, marks.entries, marks.id, marks.lifetime_ms); };
  auto err = attempt(st, marks, send, send);
  if (err)
    marked(st, marks, std::move(err));
  else
    marks.in_flight = true;
  return marks;
}

// Whether the entries are marked: reads the mark's answer if it is still
// on its way. A mark that failed leaves `id` empty.
bool landed(postgres_worker_state& st, marking& marks) {
  if (marks.in_flight) {
    auto err = attempt(
      st, marks, [&] { return mark_answered(st.cache, marks.entries, marks.id, marks.lifetime_ms); },
      [&] { return mark_pending(st.cache, marks.entries, marks.id, marks.lifetime_ms); });
    marked(st, marks, std::move(err));
  }
  return !marks.id.empty();
}

// Releases of the marks on entries the transaction did not write (those it
// wrote lose theirs with their cache write), appended to `writes`; with no
// layout, of every entry.
void add_releases(const marking& marks, const std::map<std::string, std::size_t>& written,
                  const key_layout* layout, std::vector<cache_write>& writes) {
  for (auto& entry : marks.entries) {
    if (layout && written.count(std::string(layout->client_key(entry))))
      continue;
    cache_write w;
    w.redis_key = entry;
    w.mark = marks.id;
    w.release = true;
    writes.push_back(std::move(w));
  }
}

// Nothing was committed (`failure`, if any, says so), so the marks go: left
// in, they would send the keys' reads to PostgreSQL until they lapse. A
// transaction whose outcome is unknown keeps them: they are what keeps the
// keys' readers off an older copy.
void release_marks(postgres_worker_state& st, const marking& marks,
                   const std::map<std::string, std::size_t>& written,
                   const caf::error& failure = {}) {
  if (marks.id.empty() || failure == ec::outcome_unknown)
    return;
  std::vector<cache_write> releases;
  add_releases(marks, written, nullptr, releases);
  if (auto rs = write_fenced(st.cache, releases, *st.log); !rs)
    st.log->debug("redis: could not release {} pending mark(s): {}", releases.size(),
                  client_error_text(rs.error()));
}

// With shard_hooks::cache_update_beside_commit, a batch of SETs sends its
// cache update beside its COMMIT rather than after it: values that keep the transaction's mark
// (cache_write::pending), so that no reader trusts them before COMMIT has
// answered, when a release takes the mark away. The update thus costs the
// client no round trip of its own. If COMMIT fails, the mark stays and
// lapses, and with it the value (fence.lua).
struct early_update {
  std::vector<cache_write> writes;  // as sent
  bool attempted = false;           // the values may be in Redis
  bool in_flight = false;           // their answers are still to be read
  std::vector<cache_write_result> results;  // once read; empty: none
};

void send_early(postgres_worker_state& st, early_update& early, const std::vector<store_op>& ops,
                const invalidation& inv, const std::vector<store_result>& drawn,
                const std::string& mark) noexcept try {
  if (inv.cache_ttl_ms.size() != ops.size())
    return;
  auto writes = cache_writes(ops, inv, drawn, newest_ops(ops, inv, drawn));
  // Tombstones and values that expire take the way after COMMIT.
  for (auto& w : writes)
    if (w.tombstone || w.expire_by_ns != 0)
      return;
  for (auto& w : writes) {
    w.mark = mark;
    w.pending = true;
  }
  early.attempted = true;
  if (send_fenced(st.cache, writes))
    return;  // the connection went: the update after COMMIT tries again
  early.writes = std::move(writes);
  early.in_flight = true;
} catch (const std::exception&) {
}

// Reads the early update's answers, if it went out.
void settle_early(postgres_worker_state& st, early_update& early) noexcept try {
  if (!early.in_flight)
    return;
  early.in_flight = false;
  busy_call timed(st.metrics.get(), nullptr, &service_metrics::cache_write_latency);
  auto rs = fenced_answers(st.cache, early.writes, *st.log);
  if (rs && rs->size() == early.writes.size())
    early.results = std::move(*rs);
} catch (const std::exception&) {
  early.results.clear();
}

// Reads the replies of the releases sent after the last answer, if any
// (a script Redis lost is loaded and the call sent again), before the
// connection is used for anything else: its replies come in order.
void settle_releases(postgres_worker_state& st) noexcept try {
  if (st.owed_releases.empty())
    return;
  auto writes = std::move(st.owed_releases);
  st.owed_releases.clear();
  if (auto rs = fenced_answers(st.cache, writes, *st.log); !rs)
    st.log->debug("redis: could not release {} mark(s): {}", writes.size(),
                  client_error_text(rs.error()));
} catch (const std::exception& e) {
  st.owed_releases.clear();
  st.cache.disconnect();  // its replies are out of step now
  st.log->debug("redis: could not release marks: {}", e.what());
}

// The last of a cache update, once the shard has its answer: releases of
// marks (and writes the early update did not make), sent without waiting
// for their replies (settle_releases reads them). What fails here leaves
// marks that lapse, never an older copy that reads as current.
void release_after_answer(postgres_worker_state& st, std::vector<cache_write> writes) noexcept try {
  settle_releases(st);
  // A value that expires has its TTL worked out as it is written
  // (write_fenced); none comes this way, but if one did it would wait.
  bool timed = std::any_of(writes.begin(), writes.end(),
                           [](const cache_write& w) { return w.expire_by_ns != 0; });
  if (timed) {
    if (auto rs = write_fenced(st.cache, writes, *st.log); !rs)
      st.log->debug("redis: could not release {} mark(s): {}", writes.size(),
                    client_error_text(rs.error()));
    return;
  }
  if (auto err = send_fenced(st.cache, writes)) {
    st.log->debug("redis: could not release {} mark(s): {}", writes.size(),
                  client_error_text(err));
    return;
  }
  st.owed_releases = std::move(writes);
} catch (const std::exception& e) {
  st.owed_releases.clear();
  st.cache.disconnect();
  st.log->debug("redis: could not release marks: {}", e.what());
}

// The writes of the cache update after COMMIT that the early update has
// already made become releases of the mark; returns which ones.
std::vector<bool> take_early(const early_update& early, std::vector<cache_write>& writes) {
  std::vector<bool> in(writes.size(), false);
  if (early.results.size() != writes.size())
    return in;
  for (std::size_t i = 0; i < writes.size(); ++i) {
    auto& w = writes[i];
    const auto& e = early.writes[i];
    if (early.results[i] != cache_write_result::applied || e.redis_key != w.redis_key ||
        e.version != w.version || w.tombstone)
      continue;
    w.release = true;
    w.data.clear();
    in[i] = true;
  }
  return in;
}

// jsonb comes back normalised; the cache must hold what a read returns.
// `ids`: row key -> the SET it took; `stored`: the text stored, by version.
void take_stored(const std::map<std::string, std::size_t>& ids,
                 const std::map<int64_t, std::string>& stored,
                 std::vector<store_result>& results) {
  for (auto& [id, k] : ids) {
    results[k].has_value = true;
    auto it = stored.find(results[k].version);
    if (it != stored.end())
      results[k].value = it->second;
  }
}

// A result of the pipeline, checked as libpqxx would: an error reply is a
// pqxx::sql_error with its SQLSTATE, no reply a lost connection.
struct pg_result {
  PGresult* res;
  explicit pg_result(PGresult* r) : res(r) {}
  pg_result(const pg_result&) = delete;
  ~pg_result() { if (res) PQclear(res); }
};

void check(PGconn* pg, const pg_result& r, ExecStatusType expected, const char* what) {
  if (!r.res) {
    if (PQstatus(pg) == CONNECTION_BAD)
      throw pqxx::broken_connection(PQerrorMessage(pg));
    throw pqxx::failure(std::string("no result for ") + what);
  }
  auto status = PQresultStatus(r.res);
  if (status == expected)
    return;
  if (status == PGRES_FATAL_ERROR) {
    const char* state = PQresultErrorField(r.res, PG_DIAG_SQLSTATE);
    throw pqxx::sql_error(PQresultErrorMessage(r.res), what, state);
  }
  if (status == PGRES_PIPELINE_ABORTED)
    throw pqxx::sql_error(std::string(what) + " was not run: an earlier statement failed", what,
                          "25P02");
  if (PQstatus(pg) == CONNECTION_BAD)
    throw pqxx::broken_connection(PQerrorMessage(pg));
  throw pqxx::failure(std::string("unexpected result status for ") + what + ": " +
                      PQresStatus(status));
}

// The versions (and jsonb's stored text) the batched upsert returned, one
// row per SET in order; `last`: row key -> the SET it took.
void read_versions(const std::vector<store_op>& ops, const PGresult* res, bool jsonb,
                   const std::map<std::string, std::size_t>& last,
                   std::vector<store_result>& results) {
  if (PQntuples(res) != static_cast<int>(ops.size()))
    throw pqxx::failure("the batched upsert returned " + std::to_string(PQntuples(res)) +
                        " versions for " + std::to_string(ops.size()) + " SETs");
  std::map<int64_t, std::string> stored;
  for (std::size_t k = 0; k < ops.size(); ++k) {
    auto row = static_cast<int>(k);
    results[k].version = std::stoll(PQgetvalue(res, row, 0));
    if (jsonb && !PQgetisnull(res, row, 1))
      stored[results[k].version] = std::string(PQgetvalue(res, row, 1),
                                               static_cast<std::size_t>(PQgetlength(res, row, 1)));
  }
  if (jsonb)
    take_stored(last, stored, results);
}

}  // namespace

caf::error postgres_worker_state::connect() {
  return db.open([&](session_connection& c, pqxx::internal::pq::PGconn* handle) {
    pqxx::nontransaction catalog(c);
    for (uint32_t i = 0; i < spaces->size(); ++i) {
      const auto& sql = spaces->sql(i);
      c.prepare(stmt("r", i), sql.read);
      c.prepare(stmt("u", i), sql.upsert);
      c.prepare(stmt("d", i), sql.remove);
      c.prepare(stmt("w", i), sql.row_for_write);
      if (!sql.upsert_expiring.empty())
        c.prepare(stmt("x", i), sql.upsert_expiring);
      const auto& ns = spaces->at(i);
      auto key_type = column_type(catalog, ns.table, ns.key_column);
      auto value_type = column_type(catalog, ns.table, ns.value_column);
      if (text_keys.size() <= i)
        text_keys.resize(i + 1);
      text_keys[i] = key_type == "text";
      if (text_keys[i])
        c.prepare(stmt("D", i), build_batch_remove(ns));
      c.prepare(stmt("m", i), build_multi_upsert(ns, key_type, value_type));
      c.prepare(stmt("s", i), build_key_page(ns, key_type));
      if (i == 0)
        c.prepare("flush_page", build_key_page(ns, key_type, true));
      c.prepare(stmt("c", i), sql.count);
      if (!sql.expired_keys.empty()) {
        c.prepare(stmt("e", i), sql.expired_keys);
        c.prepare(stmt("z", i), "DELETE FROM " + quote_identifier(ns.table) + " WHERE " +
                                  quote_identifier(ns.key_column) + "::text = $1 AND " +
                                  quote_identifier(ns.expires_column) + " <= clock_timestamp()");
      }
      // Prepared through libpq, for the pipeline; libpqxx prepares its own
      // statements on first use and would not know this one.
      // "L" waits for the keys' locks; "T" never does, so that it can go
      // with its COMMIT. "S" and "Q" are the same for a batch of one SET.
      std::pair<const char*, std::string> upserts[] = {
        {"L", build_locked_upsert(ns, key_type, value_type, true)},
        {"T", build_locked_upsert(ns, key_type, value_type, false)},
        {"S", build_single_locked_upsert(ns, key_type, value_type, true)},
        {"Q", build_single_locked_upsert(ns, key_type, value_type, false)},
      };
      for (auto& [name, locked] : upserts) {
        if (auto* res = PQprepare(handle, stmt(name, i).c_str(), locked.c_str(), 0, nullptr)) {
          bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
          std::string error = ok ? "" : PQresultErrorMessage(res);
          PQclear(res);
          if (!ok)
            throw std::runtime_error("cannot prepare the batched upsert: " + error);
        } else {
          throw pqxx::broken_connection(PQerrorMessage(handle));
        }
      }
    }
    catalog.commit();
    c.prepare("lock", "SELECT pg_advisory_xact_lock(x) FROM unnest($1::bigint[]) AS x");
    // The locks first (all of them: the count needs every row), then the
    // versions, so that they follow each row's commit order across nodes.
    c.prepare("lock_versions",
              "WITH l AS MATERIALIZED (SELECT count(pg_advisory_xact_lock(x)) AS n "
              "FROM unnest($1::bigint[]) AS x) "
              "SELECT nextval('" + std::string(version_sequence) + "') AS v "
              "FROM l, generate_series(1, $2::int) ORDER BY v");
    c.prepare("version", std::string("SELECT nextval('") + version_sequence + "')");
    c.prepare("cursor_get", "SELECT prefix, after_key FROM wtcache_scan_cursors WHERE id = $1");
    c.prepare("cursor_put",
              "INSERT INTO wtcache_scan_cursors (prefix, after_key) VALUES ($1, $2) RETURNING id");
    // A cursor is good for a day; after that SCAN answers "invalid cursor".
    c.prepare("cursor_gc",
              "DELETE FROM wtcache_scan_cursors WHERE made_at < now() - interval '1 day'");
    c.prepare("mark_dirty",
              "INSERT INTO wtcache_dirty_keys (key, version) "
              "SELECT * FROM unnest($1::text[], $2::bigint[]) "
              "ON CONFLICT (key) DO UPDATE SET "
              "version = GREATEST(wtcache_dirty_keys.version, EXCLUDED.version), marked_at = now()");
    c.prepare("dirty", "SELECT key, version FROM wtcache_dirty_keys ORDER BY key LIMIT $1");
    c.prepare("clear_dirty",
              "DELETE FROM wtcache_dirty_keys d USING unnest($1::text[], $2::bigint[]) AS c(key, version) "
              "WHERE d.key = c.key AND d.version <= c.version");
  });
}

template <class F>
auto postgres_worker_state::read_alone(F f) -> decltype(f(std::declval<pqxx::nontransaction&>())) {
  if (auto err = connect())
    return err;
  try {
    pqxx::nontransaction tx(db.conn());
    return f(tx);
  } catch (const pqxx::broken_connection& e) {
    return db.lost(e);
  } catch (const pqxx::sql_error& e) {
    return postgres_session::refused(e, "postgres statement timeout", true);
  } catch (const std::exception& e) {
    return db.lost(e);
  }
}

caf::expected<store_row> postgres_worker_state::read(uint32_t ns, const std::string& id) {
  return read_alone([&](pqxx::nontransaction& tx) -> caf::expected<store_row> {
    auto before = std::chrono::steady_clock::now().time_since_epoch().count();
    auto res = tx.exec_prepared(stmt("r", ns), id);
    store_row row;
    row.read_ns = before;
    if (!res.empty()) {
      row.found = true;
      if (spaces->at(ns).type == value_type::bytea)
        row.value = pqxx::binarystring(res[0][0]).str();
      else
        row.value = res[0][0].as<std::string>();
      row.version = res[0][1].as<int64_t>();
      row.expires_ms = res[0][2].is_null() ? -1 : res[0][2].as<int64_t>();
      row.now_ms = res[0][3].as<int64_t>();
    }
    return row;
  });
}

caf::expected<int64_t> postgres_worker_state::fresh_version() {
  if (auto err = connect())
    return err;
  return db.alone([](pqxx::nontransaction& tx) { return tx.exec_prepared("version")[0][0].as<int64_t>(); });
}

caf::expected<bool> postgres_worker_state::probe() {
  if (auto err = connect())
    return err;
  return db.alone([](pqxx::nontransaction& tx) { return tx.exec("SELECT 1")[0][0].as<int>() == 1; });
}

// MSETNX: every key absent, or the command writes nothing (and answers 0).
template <class RunOp>
void run_together(pqxx::transaction_base& tx, const std::vector<store_op>& ops, std::size_t from,
                  std::size_t to, std::vector<store_result>& results, RunOp& run_op) {
  bool any = false;
  for (auto k = from; k < to && !any; ++k) {
    auto row = tx.exec_prepared(stmt("w", ops[k].ns), ops[k].id);
    any = !row[0][1].is_null() && (row[0][4].is_null() || row[0][4].as<int64_t>() > row[0][0].as<int64_t>());
  }
  for (auto k = from; k < to; ++k) {
    if (any) {
      results[k].wrote = false;
      results[k].applied = false;
      continue;
    }
    auto op = ops[k];
    op.flags = 0;
    run_op(tx, op, results[k]);
  }
}

void postgres_worker_state::decide_and_write(pqxx::transaction_base& tx, const store_op& op,
                                             store_result& out) {
  const auto& ns = spaces->at(op.ns);
  bool bytea = ns.type == value_type::bytea;
  out.decided_ns = std::chrono::steady_clock::now().time_since_epoch().count();
  auto cur = tx.exec_prepared(stmt("w", op.ns), op.id);
  current_row row;
  row.now_ms = cur[0][0].as<int64_t>();
  if (!cur[0][1].is_null()) {
    row.expires_ms = cur[0][4].is_null() ? -1 : cur[0][4].as<int64_t>();
    row.exists = row.expires_ms < 0 || row.expires_ms > row.now_ms;
    row.expired = !row.exists;
    if (row.exists) {
      row.value = bytea ? pqxx::binarystring(cur[0][2]).str() : cur[0][2].as<std::string>();
      row.version = cur[0][3].as<int64_t>();
    } else {
      row.expires_ms = -1;
    }
  }
  // expiry = "cache": the row keeps no expiry, and a time already past
  // must not delete it (a TTL bounds only the cache copy).
  auto d = decide_in(op, row, max_value_bytes, ns.expiry != expiry_mode::value, out.cache_ttl_ms);
  if (!d.error.empty())
    throw group_failure{d.error};
  if (op.kind == op_kind::watch && !d.applied)
    throw watch_failed{};
  if (op.kind == op_kind::read || op.kind == op_kind::watch) {
    out.version = row.version;
    out.expires_ms = row.expires_ms;
  }
  out.applied = d.applied;
  out.count = d.number;
  out.found = d.found;
  out.bulk = std::move(d.bulk);
  out.now_ms = row.now_ms;
  switch (d.action) {
    case decision::keep:
      out.wrote = false;
      return;
    case decision::remove: {
      auto res = tx.exec_prepared(stmt("d", op.ns), op.id);
      out.version = res[0][1].as<int64_t>();
      out.removed = true;
      return;
    }
    case decision::write: {
      // What APPEND or SETRANGE made must still suit the column.
      if (auto err = unstorable_result(ns.type, op.kind, d.value); !err.empty())
        throw group_failure{err};
      bool expiring = ns.expiry == expiry_mode::value;
      pqxx::result res;
      if (expiring && d.expires_ms >= 0) {
        if (bytea)
          res = tx.exec_prepared(stmt("x", op.ns), op.id, pqxx::binarystring(d.value), d.expires_ms);
        else
          res = tx.exec_prepared(stmt("x", op.ns), op.id, d.value, d.expires_ms);
        out.expires_ms = d.expires_ms;
      } else if (bytea) {
        res = tx.exec_prepared(stmt("u", op.ns), op.id, pqxx::binarystring(d.value));
      } else {
        res = tx.exec_prepared(stmt("u", op.ns), op.id, d.value);
      }
      out.version = res[0][0].as<int64_t>();
      out.has_value = true;
      out.value = ns.type == value_type::jsonb ? res[0][1].as<std::string>() : std::move(d.value);
      return;
    }
  }
}

bool postgres_worker_state::batch_removes(const std::vector<store_op>& ops) const {
  auto ns = ops.front().ns;
  if (ns >= text_keys.size() || !text_keys[ns])
    return false;
  std::vector<const std::string*> ids;
  for (auto& op : ops) {
    if (op.kind != op_kind::del || op.flags != 0 || op.ns != ns)
      return false;
    ids.push_back(&op.id);
  }
  std::sort(ids.begin(), ids.end(), [](auto* a, auto* b) { return *a < *b; });
  return std::adjacent_find(ids.begin(), ids.end(), [](auto* a, auto* b) { return *a == *b; }) ==
         ids.end();
}

caf::expected<std::vector<store_result>>
postgres_worker_state::run_ops(const std::vector<store_op>& ops, int64_t deadline,
                               const std::function<bool()>& may_commit) {
  in_transaction = false;
  committed = false;
  if (auto err = connect())
    return err;
  std::vector<store_result> results(ops.size());
  // Lock every row first, in one sorted order: versions drawn afterwards
  // follow the commit order of each row across nodes, and two batches can
  // never wait on each other in a cycle.
  std::vector<int64_t> locks;
  locks.reserve(ops.size());
  for (auto& op : ops)
    locks.push_back(row_lock_id(spaces->at(op.ns).table, op.id));
  std::sort(locks.begin(), locks.end());
  locks.erase(std::unique(locks.begin(), locks.end()), locks.end());

  auto run_op = [&](pqxx::transaction_base& tx, const store_op& op, store_result& out) {
    if (op.kind == op_kind::del && op.flags == 0) {
      auto res = tx.exec_prepared(stmt("d", op.ns), op.id);
      out.count = res[0][0].as<int64_t>();
      out.version = res[0][1].as<int64_t>();
      out.removed = true;
      return;
    }
    decide_and_write(tx, op, out);
  };

  // The transaction is driven by hand (BEGIN, SAVEPOINT, COMMIT) rather than
  // through pqxx::work and pqxx::subtransaction: libpqxx 6.4 sends no
  // SAVEPOINT for a subtransaction that only runs prepared statements, and
  // its commit() stays silent when PostgreSQL answers COMMIT of an aborted
  // transaction with ROLLBACK. So the rule here: every failed statement is
  // followed by ROLLBACK TO SAVEPOINT or by ROLLBACK, never by COMMIT.
  try {
    pqxx::nontransaction tx(db.conn());
    // Only SETs (the common batch): one statement per namespace. If it
    // fails, one statement per command finds the culprit and fails it alone.
    bool only_sets = std::all_of(ops.begin(), ops.end(), [&](const store_op& op) {
      return is_plain_set(op, spaces->at(op.ns).expiry == expiry_mode::value);
    });
    bool one_namespace = std::all_of(ops.begin(), ops.end(), [&](const store_op& op) {
      return op.ns == ops.front().ns;
    });
    // No savepoint around it: nothing precedes it in the transaction, so a
    // failure rolls back and starts over (two round trips, on the rare
    // path, instead of two on every batch). A lone SET's failure is its
    // answer as it is.
    if (only_sets) {
      // COMMIT may go with the statement: past the deadline, nothing starts.
      if (may_commit && one_namespace && expired(deadline))
        throw deadline_passed{};
      try {
        if (one_namespace) {
          try {
            committed = begin_and_upsert(ops, locks, results, may_commit, deadline);
          } catch (const locks_busy&) {
            // Another transaction holds a row: wait for it, COMMIT apart.
            if (expired(deadline))
              throw deadline_passed{};
            begin_and_upsert(ops, locks, results, {}, deadline);
          }
        } else {
          tx.exec("BEGIN");
          upsert_all(tx, ops, locks, results);
        }
        in_transaction = !committed;
        return results;
      } catch (const pqxx::sql_error& e) {
        if (classify(e) == refusal::timed_out || ops.size() == 1)
          throw;  // the whole transaction's fate
        tx.exec("ROLLBACK");
        for (auto& r : results)
          r = store_result{};
      }
    }
    // Only plain DELs of distinct keys of one namespace (FLUSHDB's pages,
    // DEL of many keys): one statement. If it fails, one statement per
    // command finds the culprit, as for SETs.
    if (ops.size() > 1 && batch_removes(ops)) {
      if (expired(deadline))
        throw deadline_passed{};
      try {
        tx.exec("BEGIN");
        tx.exec_prepared("lock", number_array(locks));
        std::vector<std::string> ids;
        for (auto& op : ops)
          ids.push_back(op.id);
        auto res = tx.exec_prepared(stmt("D", ops.front().ns), text_array(ids));
        if (res.size() != ops.size())
          throw std::logic_error("the batched delete answered " + std::to_string(res.size()) +
                                 " rows for " + std::to_string(ops.size()) + " keys");
        for (std::size_t k = 0; k < ops.size(); ++k) {
          results[k].count = res[static_cast<pqxx::result::size_type>(k)][0].as<int64_t>();
          results[k].version = res[static_cast<pqxx::result::size_type>(k)][1].as<int64_t>();
          results[k].removed = true;
        }
        in_transaction = true;
        return results;
      } catch (const pqxx::sql_error& e) {
        if (classify(e) == refusal::timed_out)
          throw;
        tx.exec("ROLLBACK");
        for (auto& r : results)
          r = store_result{};
      }
    }
    tx.exec("BEGIN");
    tx.exec_prepared("lock", number_array(locks));
    bool many_groups = ops.front().group != ops.back().group;
    std::size_t i = 0;
    bool any_ok = false;
    while (i < ops.size()) {
      // Past the deadline nobody waits for this transaction any more.
      if (expired(deadline))
        throw deadline_passed{};
      std::size_t end = i;
      while (end < ops.size() && ops[end].group == ops[i].group)
        ++end;
      std::string failure;
      // A savepoint per client command: one bad command cannot fail the
      // others that share its transaction.
      if (many_groups)
        tx.exec("SAVEPOINT g");
      try {
        if (ops[i].flags & op_flag::together)
          run_together(tx, ops, i, end, results, run_op);
        else
          for (auto k = i; k < end; ++k)
            run_op(tx, ops[k], results[k]);
      } catch (const group_failure& f) {
        if (!many_groups)
          throw;
        failure = f.text;
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const pqxx::sql_error& e) {
        // A watch that could not be checked: EXEC must not run unchecked.
        if (!many_groups || classify(e) == refusal::timed_out || ops[i].kind == op_kind::watch)
          throw;  // the whole transaction's fate
        failure = "ERR postgres: " + one_line(e.what());
      }
      if (failure.empty()) {
        any_ok = true;
        if (many_groups)
          tx.exec("RELEASE SAVEPOINT g");
      } else {
        if (many_groups)
          tx.exec("ROLLBACK TO SAVEPOINT g");
        for (auto k = i; k < end; ++k)
          results[k] = refused_result(failure);
      }
      i = end;
    }
    if (!any_ok) {
      tx.exec("ROLLBACK");
      return results;
    }
    in_transaction = true;  // committed (or not) by commit()
    return results;
  } catch (const pqxx::in_doubt_error& e) {
    db.close();
    return make_error(ec::outcome_unknown, one_line(e.what()));
  } catch (const pqxx::broken_connection& e) {
    return db.lost(e);
  } catch (const pqxx::sql_error& e) {
    db.rollback();
    if (classify(e) == refusal::timed_out)
      return make_error(ec::timeout, "postgres statement timeout; nothing was written");
    // A single-command batch: its error is the client's answer.
    std::string text = "ERR postgres: " + one_line(e.what());
    for (auto& r : results)
      r = refused_result(text);
    return results;
  } catch (const deadline_passed&) {
    db.rollback();
    return make_error(ec::timeout, "postgres transaction ran past its deadline; rolled back");
  } catch (const watch_failed&) {
    // EXEC runs alone in its transaction: nothing of it is written.
    db.rollback();
    for (std::size_t k = 0; k < ops.size(); ++k) {
      results[k] = store_result{};
      results[k].wrote = false;
      results[k].applied = ops[k].kind != op_kind::watch;
    }
    return results;
  } catch (const group_failure& f) {
    // A single-command batch refused by our own rules (INCR of a non-integer).
    db.rollback();
    for (auto& r : results)
      r = refused_result(f.text);
    return results;
  } catch (const std::exception& e) {
    return db.lost(e);
  }
}

bool postgres_worker_state::begin_and_upsert(const std::vector<store_op>& ops,
                                             const std::vector<int64_t>& locks,
                                             std::vector<store_result>& results,
                                             const std::function<bool()>& may_commit,
                                             int64_t deadline) {
  // The rows: each key once, taking its last SET (as upsert_all).
  std::map<std::string, std::size_t> last;
  for (std::size_t k = 0; k < ops.size(); ++k)
    last[ops[k].id] = k;
  auto ns = ops.front().ns;
  bool bytea = spaces->at(ns).type == value_type::bytea;
  bool jsonb = spaces->at(ns).type == value_type::jsonb;
  std::vector<std::string> keys, values;
  std::vector<int64_t> sources;
  for (auto& [id, k] : last) {
    keys.push_back(id);
    sources.push_back(static_cast<int64_t>(k) + 1);
    values.push_back(value_parameter(ops[k].value, bytea));
  }
  bool single = ops.size() == 1;
  bool trying = static_cast<bool>(may_commit);
  std::vector<std::string> params;
  if (single)
    params = {std::to_string(locks.front()), keys.front(), values.front()};
  else
    params = {number_array(locks), std::to_string(ops.size()), text_array(keys),
              text_array(values), number_array(sources)};
  // The statement that goes with its COMMIT writes nothing past the
  // deadline, on PostgreSQL's clock (why: core/namespaces.hpp). The shard
  // gives up the Redis timeout and worker_margin later, which is how far
  // apart the two hosts' clocks may be.
  if (trying)
    params.push_back(std::to_string(unix_ms_of(deadline)));
  std::vector<const char*> values_of;
  for (auto& p : params)
    values_of.push_back(p.c_str());
  // With COMMIT in the same round trip the statement must never queue for a
  // key's lock: a transaction of a node that died meanwhile would then get
  // it, and commit, after the write its client made next through another
  // node. "T" (and "Q") writes nothing when a lock is taken, and the batch
  // goes the long way. (Holding the key's lock, it may still wait on a row
  // lock of a writer that takes none, the keyspace scan's delete or another
  // program; a later write of the key then waits for this one's lock, so it
  // cannot be overtaken.)
  auto name = stmt(single ? (trying ? "Q" : "S") : (trying ? "T" : "L"), ns);
  PGconn* pg = db.raw();
  // A server that went away while the session was idle has said so (or
  // closed the socket): find out before sending, while nothing is in doubt.
  if (PQconsumeInput(pg) != 1 || PQstatus(pg) == CONNECTION_BAD)
    throw pqxx::broken_connection(PQerrorMessage(pg));
  if (PQenterPipelineMode(pg) != 1)
    throw pqxx::broken_connection(PQerrorMessage(pg));
  // BEGIN and the statement go out at once; COMMIT follows them only once
  // `may_commit` has said yes (the mark's answer, whose round trip overlaps
  // theirs) and the deadline has not passed. The flush request makes the
  // server send the statement's result at once rather than with COMMIT's,
  // at the sync: its versions can then go to Redis while COMMIT runs
  // (on_versions).
  bool sent = PQsendQueryParams(pg, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
              PQsendQueryPrepared(pg, name.c_str(), static_cast<int>(values_of.size()), values_of.data(),
                                  nullptr, nullptr, 0) == 1 &&
              (!trying || PQsendFlushRequest(pg) == 1) && PQflush(pg) == 0;
  bool committing = false;
  if (sent && trying && may_commit() && !expired(deadline)) {
    committing = true;
    sent = PQsendQueryParams(pg, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  }
  sent = sent && PQpipelineSync(pg) == 1;
  // Every result is read before leaving pipeline mode, whatever happens.
  std::vector<std::unique_ptr<pg_result>> got;
  int statements = committing ? 3 : 2;
  if (sent) {
    // BEGIN, the statement, COMMIT (each followed by a null), then the sync.
    for (int i = 0; i < statements; ++i) {
      got.push_back(std::make_unique<pg_result>(PQgetResult(pg)));
      if (!got.back()->res)
        break;
      while (auto* extra = PQgetResult(pg))
        PQclear(extra);
      // The statement has answered and COMMIT is on its way: its versions
      // may go to whoever overlaps work with the COMMIT's round trip.
      if (i == 1 && committing && on_versions &&
          PQresultStatus(got[1]->res) == PGRES_TUPLES_OK &&
          PQntuples(got[1]->res) == static_cast<int>(ops.size())) {
        try {
          auto drawn = results;
          read_versions(ops, got[1]->res, jsonb, last, drawn);
          on_versions(drawn);
        } catch (const std::exception&) {
          // read again below, where a surprise counts
        }
      }
    }
    if (got.size() == static_cast<std::size_t>(statements) && got.back()->res) {
      pg_result sync(PQgetResult(pg));
      sent = sync.res && PQresultStatus(sync.res) == PGRES_PIPELINE_SYNC;
    } else {
      sent = false;
    }
  }
  if (!sent || PQexitPipelineMode(pg) != 1) {
    // Out of step with the server: this connection is done for. With
    // COMMIT on its way, nobody can say whether it committed.
    auto text = std::string(PQerrorMessage(pg));
    if (text.empty())
      text = "lost the pipeline";
    if (committing)
      throw pqxx::in_doubt_error(text);
    throw pqxx::broken_connection(text);
  }
  check(pg, *got[0], PGRES_COMMAND_OK, "BEGIN");
  check(pg, *got[1], PGRES_TUPLES_OK, "the batched upsert");
  if (committing) {
    check(pg, *got[2], PGRES_COMMAND_OK, "COMMIT");
    if (std::string_view(PQcmdStatus(got[2]->res)) != "COMMIT")
      throw pqxx::sql_error(std::string("COMMIT answered ") + PQcmdStatus(got[2]->res), "COMMIT");
  }
  if (trying && PQntuples(got[1]->res) == 0 && !ops.empty()) {
    // A lock was taken and nothing written: the empty transaction ends.
    if (!committing) {
      pg_result end(PQexec(pg, "ROLLBACK"));
      check(pg, end, PGRES_COMMAND_OK, "ROLLBACK");
    }
    throw locks_busy{};
  }
  // Committed, if committing: from here on, a surprise is an outcome in doubt.
  try {
    read_versions(ops, got[1]->res, jsonb, last, results);
  } catch (const std::exception& e) {
    if (committing)
      throw pqxx::in_doubt_error(std::string("committed, but its answer did not add up: ") + e.what());
    throw;
  }
  return committing;
}


void postgres_worker_state::upsert_all(pqxx::transaction_base& tx, const std::vector<store_op>& ops,
                                       const std::vector<int64_t>& locks,
                                       std::vector<store_result>& results) {
  // A key set twice in the batch: each SET has its own version, in order,
  // and the row gets the last one.
  std::map<uint32_t, std::map<std::string, std::size_t>> last;  // ns -> id -> op
  for (std::size_t k = 0; k < ops.size(); ++k)
    last[ops[k].ns][ops[k].id] = k;
  auto drawn = tx.exec_prepared("lock_versions", number_array(locks), static_cast<int>(ops.size()));
  for (std::size_t k = 0; k < ops.size(); ++k)
    results[k].version = drawn[static_cast<pqxx::result::size_type>(k)][0].as<int64_t>();
  for (auto& [ns, ids] : last) {
    bool bytea = spaces->at(ns).type == value_type::bytea;
    std::vector<std::string> keys, values;
    std::vector<int64_t> versions;
    for (auto& [id, k] : ids) {
      keys.push_back(id);
      values.push_back(value_parameter(ops[k].value, bytea));
      versions.push_back(results[k].version);
    }
    auto res = tx.exec_prepared(stmt("m", ns), text_array(keys), text_array(values),
                                number_array(versions));
    if (spaces->at(ns).type != value_type::jsonb)
      continue;
    std::map<int64_t, std::string> stored;  // by version: unique per row
    for (auto row : res)
      stored[row[0].as<int64_t>()] = row[1].as<std::string>();
    take_stored(ids, stored, results);
  }
}

std::string postgres_worker_state::next_mark() {
  if (mark_base.empty()) {
    std::random_device rd;
    std::uniform_int_distribution<uint64_t> any;
    std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(any(gen)));
    mark_base = text;
  }
  return mark_base + ":" + std::to_string(++marks_made);
}

caf::error postgres_worker_state::commit(const dirty_records& record, bool refuse_to_record,
                                         int64_t deadline) {
  if (!in_transaction)
    return make_error(ec::postgres_error, "no transaction to commit");
  in_transaction = false;
  if (!record.keys.empty() && refuse_to_record) {
    db.rollback();
    return make_error(ec::redis_unavailable,
                      "on_cache_failure = fail: the cache could not be invalidated; nothing was written");
  }
  // Past the deadline the shard may already have told the client the
  // outcome is unknown and moved on: roll back rather than commit late.
  if (expired(deadline)) {
    db.rollback();
    return make_error(ec::timeout, "postgres transaction ran past its deadline; rolled back");
  }
  bool committing = false;
  try {
    pqxx::nontransaction tx(db.conn());
    if (!record.keys.empty())
      tx.exec_prepared("mark_dirty", text_array(record.keys), number_array(record.versions));
    committing = true;
    tx.exec("COMMIT");
    return caf::none;
  } catch (const pqxx::in_doubt_error& e) {
    db.close();
    return make_error(ec::outcome_unknown, one_line(e.what()));
  } catch (const pqxx::sql_error& e) {
    // PostgreSQL answered COMMIT with an error (a deferred constraint, a
    // serialization failure): the transaction is rolled back, nothing written.
    if (committing)
      return make_error(ec::postgres_error, "COMMIT failed: " + one_line(e.what()));
    db.rollback();
    return postgres_session::refused(e, "postgres statement timeout; nothing was written");
  } catch (const std::exception& e) {  // pqxx::broken_connection among them
    if (committing) {
      db.close();
      return make_error(ec::outcome_unknown, one_line(e.what()));
    }
    return db.lost(e);
  }
}

caf::expected<scan_page> postgres_worker_state::scan(const scan_request& req, int64_t deadline) {
  return read_alone([&](pqxx::nontransaction& tx) -> caf::expected<scan_page> {
    scan_page page;
    std::size_t ns = 0;
    std::optional<std::string> after;  // the last key read in namespace `ns`
    if (req.what == scan_request::scan && req.cursor != 0) {
      auto at = tx.exec_prepared("cursor_get", static_cast<int64_t>(req.cursor));
      if (at.empty())
        return make_error(ec::client_error, "ERR invalid cursor");
      auto prefix = at[0][0].as<std::string>();
      while (ns < spaces->size() && spaces->at(ns).prefix != prefix)
        ++ns;
      if (ns == spaces->size())
        return make_error(ec::client_error, "ERR invalid cursor");
      if (!at[0][1].is_null())
        after = at[0][1].as<std::string>();
    }
    if (req.what == scan_request::expired) {
      for (std::size_t i = 0; i < spaces->size(); ++i) {
        auto left = req.count - static_cast<int64_t>(page.keys.size());
        if (spaces->at(i).expiry != expiry_mode::value || left <= 0)
          continue;
        for (auto row : tx.exec_prepared(stmt("e", static_cast<uint32_t>(i)), left)) {
          auto id = row[0].as<std::string>();
          auto key = spaces->at(i).prefix + id;
          if (spaces->resolve(key).index == i) {
            page.keys.push_back(std::move(key));
          } else {
            // A row no key reaches (a longer prefix claims its key): no
            // cache entry is its, so it goes at once, and it cannot hold
            // the reaper up round after round.
            tx.exec_prepared(stmt("z", static_cast<uint32_t>(i)), id);
          }
        }
      }
      return page;
    }
    if (req.what == scan_request::size) {
      for (std::size_t i = 0; i < spaces->size(); ++i)
        page.count += tx.exec_prepared(stmt("c", static_cast<uint32_t>(i)))[0][0].as<int64_t>();
      return page;
    }
    // SCAN reads `count` rows (MATCH filters them afterwards, as in Redis);
    // KEYS reads everything, a page at a time, until the deadline.
    bool all = req.what == scan_request::keys;
    auto budget = all ? INT64_MAX : std::max<int64_t>(req.count, 1);
    auto wanted = literal_prefix(req.pattern);
    std::size_t last_ns = req.what == scan_request::default_keys ? 1 : spaces->size();
    while (ns < last_ns && budget > 0) {
      if (expired(deadline))
        return make_error(ec::timeout, "the keyspace is larger than one request may read");
      const auto& prefix = spaces->at(ns).prefix;
      // A namespace whose keys cannot match the pattern's literal start.
      bool may_match = wanted.compare(0, std::min(wanted.size(), prefix.size()), prefix, 0,
                                      std::min(wanted.size(), prefix.size())) == 0;
      if (!may_match) {
        ++ns;
        after.reset();
        continue;
      }
      auto take = std::min<int64_t>(budget, 1000);
      auto page_of = req.what == scan_request::default_keys ? std::string("flush_page")
                                                             : stmt("s", static_cast<uint32_t>(ns));
      auto res = after ? tx.exec_prepared(page_of, *after, take)
                       : tx.exec_prepared(page_of, nullptr, take);
      for (auto row : res) {
        after = row[0].as<std::string>();
        auto key = prefix + *after;
        // A row a longer prefix claims is not this namespace's key.
        if (ns > 0 || spaces->resolve(key).index == 0)
          if (req.pattern.empty() || glob_match(req.pattern, key))
            page.keys.push_back(std::move(key));
      }
      budget -= static_cast<int64_t>(res.size());
      if (static_cast<int64_t>(res.size()) < take) {
        ++ns;
        after.reset();
      }
      // FLUSHDB: a page of keys it can delete, past rows no key reaches.
      if (req.what == scan_request::default_keys && (!page.keys.empty() || ns > 0))
        return page;
      if (req.what == scan_request::default_keys)
        budget = take;
    }
    if (req.what != scan_request::scan || ns >= spaces->size())
      return page;  // cursor 0: done
    const auto& prefix = spaces->at(ns).prefix;
    auto made = after ? tx.exec_prepared("cursor_put", prefix, *after)
                      : tx.exec_prepared("cursor_put", prefix, nullptr);
    auto id = made[0][0].as<int64_t>();
    if (id % 1000 == 0)
      tx.exec_prepared("cursor_gc");
    page.cursor = static_cast<uint64_t>(id);
    return page;
  });
}

caf::expected<dirty_records> postgres_worker_state::dirty_keys(std::size_t limit) {
  if (auto err = connect())
    return err;
  return db.alone([&](pqxx::nontransaction& tx) {
    dirty_records out;
    for (auto row : tx.exec_prepared("dirty", static_cast<int64_t>(limit))) {
      out.keys.push_back(row[0].as<std::string>());
      out.versions.push_back(row[1].as<int64_t>());
    }
    return out;
  });
}

caf::error postgres_worker_state::clear_dirty(const dirty_records& done) {
  if (done.keys.empty())
    return caf::none;
  if (auto err = connect())
    return err;
  auto res = db.alone([&](pqxx::nontransaction& tx) {
    tx.exec_prepared("clear_dirty", text_array(done.keys), number_array(done.versions));
    return true;
  });
  return res ? caf::none : res.error();
}

postgres_worker_actor::behavior_type
postgres_worker(postgres_worker_actor::stateful_pointer<postgres_worker_state> self,
                postgres_worker_settings cfg) {
  block_sigpipe_on_this_thread();  // detached: this is the worker's own thread
  auto& st = self->state;
  st.metrics = std::move(cfg.metrics);
  st.log = std::move(cfg.log);
  st.spaces = std::move(cfg.spaces);
  st.max_value_bytes = cfg.max_value_bytes;
  st.statement_timeout = cfg.statement_timeout;
  st.db = postgres_session(session_settings{std::move(cfg.url), cfg.statement_timeout, true});
  st.cache = redis_connection(std::move(cfg.redis), cfg.redis_timeout);
  if (auto* m = st.metrics.get())
    st.cache.count_into(&m->redis_redirections, &m->redis_slot_map_loads);
  return {
    [=](atom::put, const std::vector<store_op>& ops, int64_t deadline, bool use_cache,
        const invalidation& inv) -> caf::result<store_outcome> {
      auto& st = self->state;
      // The last transaction's releases first, as when the worker waited
      // for them before taking this request: the time counts as queueing,
      // never as this transaction's.
      settle_releases(st);
      if (ops.empty())
        return store_outcome{};
      if (expired(deadline))
        return make_error(ec::timeout, "postgres request expired in the queue; nothing was written");
      auto* m = st.metrics.get();
      busy_call busy(m, &service_metrics::postgres_in_use, &service_metrics::db_transaction_latency);
      store_outcome outcome;
      // The entries are marked pending before the transaction commits: from
      // then on no read trusts a copy older than it, so COMMIT may follow
      // its statements without a round trip of its own. The mark's call goes
      // out first and its answer is read while PostgreSQL runs them. What
      // could not be marked is recorded instead (or, when that is not
      // allowed, the transaction rolls back).
      marking marks;
      if (use_cache)
        marks = start_marking(st, inv, deadline);
      // The pipelined COMMIT waits for the mark's answer, and goes only if
      // the entries are marked. Every other way reads the answer below.
      std::function<bool()> may_commit;
      if (marks.in_flight)
        may_commit = [&] { return landed(st, marks); };
      early_update early;
      if (marks.in_flight && inv.beside_commit && !inv.before_cache_write)
        st.on_versions = [&](const std::vector<store_result>& drawn) {
          send_early(st, early, ops, inv, drawn, marks.id);
        };
      struct forget {
        postgres_worker_state& st;
        ~forget() { st.on_versions = nullptr; }
      } forget_early{st};
      auto ran = st.run_ops(ops, deadline, may_commit);
      landed(st, marks);
      // ack = "after-commit" answers before the early update's answers.
      bool answer_first = inv.defer_cache_update && ran && st.committed;
      if (!answer_first)
        settle_early(st, early);
      outcome.redis = marks.redis;
      if (!ran) {
        // Values sent beside a COMMIT that failed keep their mark, which lapses.
        if (!early.attempted)
          release_marks(st, marks, {}, ran.error());
        return std::move(ran.error());
      }
      outcome.results = std::move(*ran);
      auto newest = newest_ops(ops, inv, outcome.results);
      if (!st.in_transaction && !st.committed) {
        if (!early.attempted)
          release_marks(st, marks, newest);
        return outcome;  // nothing to commit: every command failed
      }
      dirty_records record;
      for (auto& [key, k] : newest) {
        record.keys.push_back(key);
        record.versions.push_back(outcome.results[k].version);
      }
      if (!st.committed) {
        auto missed = marks.id.empty() ? record : dirty_records{};
        if (auto err = st.commit(missed, inv.required, deadline)) {
          release_marks(st, marks, {}, err);
          return err;
        }
        outcome.recorded = !missed.keys.empty();
      }
      outcome.cached = std::move(record);
      // Without a mark (Redis failed before COMMIT) there is no update:
      // Redis would most likely fail again, and the keys are recorded.
      if (marks.id.empty() || inv.cache_ttl_ms.empty()) {
        settle_early(st, early);
        return outcome;
      }
      outcome.mark = marks.id;
      auto writes = cache_writes(ops, inv, outcome.results, newest);
      for (auto& w : writes)
        w.mark = marks.id;
      // Answers the shard with the cache update counted as made; what is
      // left of it follows (release_after_answer).
      auto answer_now = [&] {
        outcome.cache.assign(outcome.cached.keys.size(), cache_write_result::applied);
        outcome.cache_redis = store_outcome::answered;
        auto rp = self->make_response_promise<store_outcome>();
        rp.deliver(std::move(outcome));
        return rp;
      };
      if (answer_first && early.in_flight) {
        // Committed: answer, then read the early update's answers and take
        // the marks away, or make the writes it did not. Should that fail,
        // the marks lapse: reads read through meanwhile, as after any
        // answer of this ack.
        auto rp = answer_now();
        settle_early(st, early);
        take_early(early, writes);
        add_releases(marks, newest, &inv.redis_keys, writes);
        release_after_answer(st, std::move(writes));
        return rp;
      }
      settle_early(st, early);  // (if not read yet: after-commit, the early update refused)
      auto made = take_early(early, writes);
      add_releases(marks, newest, &inv.redis_keys, writes);
      if (!made.empty() && std::all_of(made.begin(), made.end(), [](bool b) { return b; })) {
        // The update is in: answer now, then take the marks away. A
        // release that fails leaves marks that lapse: reads read through
        // meanwhile, never an older copy.
        auto rp = answer_now();
        release_after_answer(st, std::move(writes));
        return rp;
      }
      if (inv.defer_cache_update) {
        outcome.deferred = std::move(writes);  // the shard makes it, after answering
        return outcome;
      }
      // Committed: the shard's next transaction may go while this one's
      // cache update runs.
      if (inv.commit_listener)
        caf::anon_send(inv.commit_listener, atom::committed_batch::value, inv.batch);
      if (!inv.before_cache_write || outcome.cached.keys.empty()) {
        update_cache(st, writes, outcome);
        for (std::size_t i = 0; i < made.size() && i < outcome.cache.size(); ++i)
          if (made[i] && outcome.cache[i] != cache_write_result::failed)
            outcome.cache[i] = cache_write_result::applied;
        return outcome;
      }
      auto rp = self->make_response_promise<store_outcome>();
      auto finish = [=]() mutable {
        settle_releases(self->state);
        update_cache(self->state, writes, outcome);
        rp.deliver(std::move(outcome));
      };
      self->request(inv.before_cache_write, std::chrono::seconds(30), atom::gate::value,
                    outcome.cached.keys.front())
        .await([finish](caf::ok_atom) mutable { finish(); },
               [finish](caf::error&) mutable { finish(); });
      return rp;
    },
    [=](atom::scan, const scan_request& req, int64_t deadline) -> caf::result<scan_page> {
      if (expired(deadline))
        return make_error(ec::timeout, "postgres request expired in the queue");
      auto* m = self->state.metrics.get();
      busy_call busy(m, &service_metrics::postgres_in_use, &service_metrics::db_read_latency);
      return self->state.scan(req, deadline);
    },
    [=](atom::dirty) -> caf::result<dirty_records> {
      return self->state.dirty_keys(max_dirty_records);
    },
    [=](atom::clear, const dirty_records& done) {
      if (auto err = self->state.clear_dirty(done))
        self->state.log->debug("postgres: could not delete {} dirty-key record(s): {}", done.keys.size(),
                      client_error_text(err));
    },
    [=](atom::get, uint32_t ns, const std::string& id, int64_t deadline) -> caf::result<store_row> {
      if (expired(deadline))
        return make_error(ec::timeout, "postgres request expired in the queue");
      auto* m = self->state.metrics.get();
      busy_call busy(m, &service_metrics::postgres_in_use, &service_metrics::db_read_latency);
      return self->state.read(ns, id);
    },
    [=](atom::probe, int64_t deadline) -> caf::result<bool> {
      if (expired(deadline))
        return make_error(ec::timeout, "postgres request expired in the queue");
      return self->state.probe();
    },
    [=](atom::version) -> caf::result<int64_t> {
      return self->state.fresh_version();
    },
  };
}

}  // namespace wtcache
