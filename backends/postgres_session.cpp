// One PostgreSQL session: its settings, rollback, and SQLSTATE classification.
#include "backends/postgres_session.hpp"

#include <libpq-fe.h>
#include <pqxx/pqxx>

#include "core/namespaces.hpp"
#include "messages/errors.hpp"

namespace wtcache {

namespace {

// The handle handle_seeing_connect saw last on this thread.
thread_local pqxx::internal::pq::PGconn* connected_handle = nullptr;

}  // namespace

handle_seeing_connect::handle handle_seeing_connect::do_startconnect(handle orig) {
  orig = pqxx::connect_direct::do_startconnect(orig);
  connected_handle = orig;
  return orig;
}

namespace {
constexpr const char* statement_timeout_state = "57014";
constexpr const char* lock_timeout_state = "55P03";
}  // namespace

refusal classify(const pqxx::sql_error& e) {
  const auto& state = e.sqlstate();
  if (state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0)
    return refusal::for_good;
  if (state == statement_timeout_state || state == lock_timeout_state)
    return refusal::timed_out;
  return refusal::other;
}

caf::error postgres_session::open(
  const std::function<void(session_connection&, pqxx::internal::pq::PGconn*)>& prepare) {
  if (conn_ && conn_->is_open())
    return caf::none;
  close();
  try {
    connected_handle = nullptr;
    auto c = std::make_unique<session_connection>(settings_.url);
    auto* handle = connected_handle;
    if (!handle || PQstatus(handle) != CONNECTION_OK)
      throw pqxx::broken_connection("connected, but the connection handle was not seen");
    // Never reconnect behind our back: `raw` would point at the old one, and
    // a session lock (a write-behind stream's) would be gone unnoticed.
    // (Deprecated in libpqxx 6.4, gone in 7, where the handle is reachable.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    c->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    pqxx::nontransaction tx(*c);
    auto ms = std::to_string(settings_.statement_timeout.count());
    tx.exec("SET statement_timeout = " + ms);
    tx.exec("SET lock_timeout = " + ms);
    // Left to choose, PostgreSQL plans a prepared batched upsert afresh at
    // each execution (custom plans look cheaper): about 0.1 ms of planning
    // a batch, as much as running it.
    if (settings_.generic_plans)
      tx.exec("SET plan_cache_mode = force_generic_plan");
    tx.commit();
    if (prepare)
      prepare(*c, handle);
    conn_ = std::move(c);
    raw_ = handle;
    return caf::none;
  } catch (const std::exception& e) {
    return make_error(ec::postgres_unavailable, one_line(e.what()));
  }
}

void postgres_session::close() {
  conn_.reset();
  raw_ = nullptr;
}

void postgres_session::rollback() {
  if (!conn_)
    return;
  try {
    pqxx::nontransaction tx(*conn_);
    tx.exec("ROLLBACK");
  } catch (const std::exception&) {
    close();  // the next call starts on a fresh connection
  }
}

caf::error postgres_session::refused(const pqxx::sql_error& e) {
  return make_error(ec::postgres_error, one_line(e.what()));
}

caf::error postgres_session::refused(const pqxx::sql_error& e, const char* timeout_text,
                                     bool statement_only) {
  bool timed_out = statement_only ? e.sqlstate() == statement_timeout_state
                                  : classify(e) == refusal::timed_out;
  if (timed_out)
    return make_error(ec::timeout, timeout_text);
  return refused(e);
}

caf::error postgres_session::lost(const std::exception& e) {
  close();
  return make_error(ec::postgres_unavailable, one_line(e.what()));
}

std::string number_array(const std::vector<int64_t>& xs) {
  std::string out = "{";
  for (std::size_t i = 0; i < xs.size(); ++i)
    out += (i ? "," : "") + std::to_string(xs[i]);
  return out + "}";
}

std::string number_array(const std::vector<std::optional<int64_t>>& xs) {
  std::string out = "{";
  for (std::size_t i = 0; i < xs.size(); ++i)
    out += (i ? "," : "") + (xs[i] ? std::to_string(*xs[i]) : std::string("NULL"));
  return out + "}";
}

std::string text_array(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (std::size_t i = 0; i < xs.size(); ++i) {
    out += i ? ",\"" : "\"";
    for (char c : xs[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string column_type(pqxx::transaction_base& tx, const std::string& table,
                        const std::string& column) {
  auto r = tx.exec_params("SELECT format_type(a.atttypid, NULL) FROM pg_attribute a "
                          "WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
                          quote_identifier(table), column);
  if (r.empty())
    throw std::runtime_error("no column " + column + " in " + table);
  // Without its modifier, "character" is character(1) and "bit" bit(1): a
  // cast to either would cut the text to one character without a word.
  // Their unbounded forms keep it whole; the column then refuses what does
  // not fit.
  auto type = r[0][0].as<std::string>();
  if (type == "character")
    return "bpchar";
  if (type == "bit")
    return "bit varying";
  return type;
}

std::string value_parameter(const std::string& value, bool bytea) {
  if (!bytea)
    return value;
  static const char* hex = "0123456789abcdef";
  std::string h;
  h.reserve(value.size() * 2);
  for (unsigned char ch : value) {
    h += hex[ch >> 4];
    h += hex[ch & 15];
  }
  return h;
}

}  // namespace wtcache
