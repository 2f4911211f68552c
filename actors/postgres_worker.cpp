#include "actors/postgres_worker.hpp"

#include <algorithm>
#include <charconv>

#include <caf/behavior.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

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

bool expired(int64_t deadline_ns) {
  return std::chrono::steady_clock::now().time_since_epoch().count() > deadline_ns;
}

std::string stmt(const char* kind, uint32_t ns) {
  return std::string(kind) + std::to_string(ns);
}

}  // namespace

bool parse_redis_integer(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  if (s[0] == '0' && s.size() > 1)
    return false;
  if (s[0] == '-' && (s.size() == 1 || s[1] == '0'))
    return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

postgres_worker_state::postgres_worker_state() = default;
postgres_worker_state::~postgres_worker_state() = default;

caf::error postgres_worker_state::connect() {
  if (conn && conn->is_open())
    return caf::none;
  conn.reset();
  try {
    auto c = std::make_unique<pqxx::connection>(url);
    // Our own deadline for every statement, below the shards' request
    // timeout, so the worker answers before anyone gives up on it.
    pqxx::nontransaction tx(*c);
    tx.exec("SET statement_timeout = " + std::to_string(statement_timeout.count()));
    tx.exec("SET lock_timeout = " + std::to_string(statement_timeout.count()));
    tx.commit();
    for (uint32_t i = 0; i < spaces->size(); ++i) {
      const auto& sql = spaces->sql(i);
      c->prepare(stmt("r", i), sql.read);
      c->prepare(stmt("u", i), sql.upsert);
      c->prepare(stmt("d", i), sql.remove);
      c->prepare(stmt("f", i), sql.read_for_update);
    }
    c->prepare("lock", "SELECT pg_advisory_xact_lock(x) FROM unnest($1::bigint[]) AS x");
    c->prepare("version", std::string("SELECT nextval('") + version_sequence + "')");
    conn = std::move(c);
    return caf::none;
  } catch (const std::exception& e) {
    return make_error(ec::postgres_unavailable, one_line(e.what()));
  }
}

caf::expected<store_row> postgres_worker_state::read(uint32_t ns, const std::string& id) {
  if (auto err = connect())
    return err;
  try {
    pqxx::nontransaction tx(*conn);
    auto res = tx.exec_prepared(stmt("r", ns), id);
    store_row row;
    if (!res.empty()) {
      row.found = true;
      if (spaces->at(ns).type == value_type::bytea)
        row.value = pqxx::binarystring(res[0][0]).str();
      else
        row.value = res[0][0].as<std::string>();
      row.version = res[0][1].as<int64_t>();
    }
    return row;
  } catch (const pqxx::broken_connection& e) {
    conn.reset();
    return make_error(ec::postgres_unavailable, one_line(e.what()));
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == "57014")
      return make_error(ec::timeout, "postgres statement timeout");
    return make_error(ec::postgres_error, one_line(e.what()));
  } catch (const std::exception& e) {
    conn.reset();
    return make_error(ec::postgres_unavailable, one_line(e.what()));
  }
}

caf::expected<int64_t> postgres_worker_state::fresh_version() {
  if (auto err = connect())
    return err;
  try {
    pqxx::nontransaction tx(*conn);
    return tx.exec_prepared("version")[0][0].as<int64_t>();
  } catch (const pqxx::sql_error& e) {
    return make_error(ec::postgres_error, one_line(e.what()));
  } catch (const std::exception& e) {
    conn.reset();
    return make_error(ec::postgres_unavailable, one_line(e.what()));
  }
}

caf::expected<std::vector<store_result>>
postgres_worker_state::write(const std::vector<store_op>& ops, int64_t deadline) {
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
  std::string lock_array = "{";
  for (std::size_t i = 0; i < locks.size(); ++i)
    lock_array += (i ? "," : "") + std::to_string(locks[i]);
  lock_array += "}";

  auto run_op = [&](pqxx::transaction_base& tx, const store_op& op, store_result& out) {
    const auto& ns = spaces->at(op.ns);
    auto bind_upsert = [&](const std::string& value) {
      if (ns.type == value_type::bytea)
        return tx.exec_prepared(stmt("u", op.ns), op.id, pqxx::binarystring(value));
      return tx.exec_prepared(stmt("u", op.ns), op.id, value);
    };
    switch (op.kind) {
      case op_kind::set: {
        auto res = bind_upsert(op.value);
        out.version = res[0][0].as<int64_t>();
        if (ns.type == value_type::jsonb) {
          out.has_value = true;
          out.value = res[0][1].as<std::string>();
        }
        break;
      }
      case op_kind::del: {
        auto res = tx.exec_prepared(stmt("d", op.ns), op.id);
        out.count = res[0][0].as<int64_t>();
        out.version = res[0][1].as<int64_t>();
        break;
      }
      case op_kind::incr: {
        auto cur = tx.exec_prepared(stmt("f", op.ns), op.id);
        int64_t value = 0;
        if (!cur.empty()) {
          std::string text = ns.type == value_type::bytea
                               ? pqxx::binarystring(cur[0][0]).str()
                               : cur[0][0].as<std::string>();
          if (!parse_redis_integer(text, value))
            throw group_failure{"ERR value is not an integer or out of range"};
        }
        if (__builtin_add_overflow(value, op.delta, &value))
          throw group_failure{"ERR increment or decrement would overflow"};
        auto res = bind_upsert(std::to_string(value));
        out.version = res[0][0].as<int64_t>();
        out.count = value;
        out.has_value = true;
        out.value = ns.type == value_type::jsonb ? res[0][1].as<std::string>()
                                                 : std::to_string(value);
        break;
      }
    }
  };

  // The transaction is driven by hand (BEGIN, SAVEPOINT, COMMIT) rather than
  // through pqxx::work and pqxx::subtransaction: libpqxx 6.4 sends no
  // SAVEPOINT for a subtransaction that only runs prepared statements, and
  // its commit() stays silent when PostgreSQL answers COMMIT of an aborted
  // transaction with ROLLBACK. So the rule here: every failed statement is
  // followed by ROLLBACK TO SAVEPOINT or by ROLLBACK, never by COMMIT.
  bool committing = false;
  try {
    pqxx::nontransaction tx(*conn);
    tx.exec("BEGIN");
    tx.exec_prepared("lock", lock_array);
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
        for (auto k = i; k < end; ++k)
          run_op(tx, ops[k], results[k]);
      } catch (const group_failure& f) {
        if (!many_groups)
          throw;
        failure = f.text;
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const pqxx::sql_error& e) {
        if (!many_groups || e.sqlstate() == "57014" || e.sqlstate() == "55P03")
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
          results[k] = store_result{failure, 0, 0, false, {}};
      }
      i = end;
    }
    // Past the deadline the shard may already have told the client the
    // outcome is unknown and moved on: roll back rather than commit late.
    if (!any_ok || expired(deadline)) {
      tx.exec("ROLLBACK");
      if (any_ok)
        return make_error(ec::timeout, "postgres transaction ran past its deadline; rolled back");
      return results;
    }
    committing = true;
    tx.exec("COMMIT");
    return results;
  } catch (const pqxx::in_doubt_error& e) {
    conn.reset();
    return make_error(ec::outcome_unknown, one_line(e.what()));
  } catch (const pqxx::broken_connection& e) {
    conn.reset();
    if (committing)
      return make_error(ec::outcome_unknown, one_line(e.what()));
    return make_error(ec::postgres_unavailable, one_line(e.what()));
  } catch (const pqxx::sql_error& e) {
    // PostgreSQL answered COMMIT with an error (a deferred constraint, a
    // serialization failure): the transaction is rolled back, nothing written.
    if (committing)
      return make_error(ec::postgres_error, "COMMIT failed: " + one_line(e.what()));
    abandon_transaction();
    if (e.sqlstate() == "57014" || e.sqlstate() == "55P03")
      return make_error(ec::timeout, "postgres statement timeout; nothing was written");
    // A single-command batch: its error is the client's answer.
    std::string text = "ERR postgres: " + one_line(e.what());
    for (auto& r : results)
      r = store_result{text, 0, 0, false, {}};
    return results;
  } catch (const deadline_passed&) {
    abandon_transaction();
    return make_error(ec::timeout, "postgres transaction ran past its deadline; rolled back");
  } catch (const group_failure& f) {
    // A single-command batch refused by our own rules (INCR of a non-integer).
    abandon_transaction();
    for (auto& r : results)
      r = store_result{f.text, 0, 0, false, {}};
    return results;
  } catch (const std::exception& e) {
    conn.reset();
    if (committing)
      return make_error(ec::outcome_unknown, one_line(e.what()));
    return make_error(ec::postgres_unavailable, one_line(e.what()));
  }
}

void postgres_worker_state::abandon_transaction() {
  try {
    pqxx::nontransaction tx(*conn);
    tx.exec("ROLLBACK");
  } catch (const std::exception&) {
    conn.reset();  // the next request starts on a fresh connection
  }
}

postgres_worker_actor::behavior_type
postgres_worker(postgres_worker_actor::stateful_pointer<postgres_worker_state> self, std::string url,
                std::shared_ptr<const namespace_table> spaces,
                std::chrono::milliseconds statement_timeout) {
  self->state.url = std::move(url);
  self->state.spaces = std::move(spaces);
  self->state.statement_timeout = statement_timeout;
  return {
    [=](atom::put, const std::vector<store_op>& ops,
        int64_t deadline) -> caf::result<std::vector<store_result>> {
      if (ops.empty())
        return std::vector<store_result>{};
      if (expired(deadline))
        return make_error(ec::timeout, "postgres request expired in the queue; nothing was written");
      auto res = self->state.write(ops, deadline);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [=](atom::get, uint32_t ns, const std::string& id, int64_t deadline) -> caf::result<store_row> {
      if (expired(deadline))
        return make_error(ec::timeout, "postgres request expired in the queue");
      auto res = self->state.read(ns, id);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [=](atom::version) -> caf::result<int64_t> {
      auto res = self->state.fresh_version();
      if (!res)
        return std::move(res.error());
      return *res;
    },
  };
}

}  // namespace wtcache
