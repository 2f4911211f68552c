// One libpqxx connection to PostgreSQL, as a worker actor owns it: opened
// with the session's settings (statement and lock timeouts, optionally
// generic plans), the libpq handle beside it for what libpqxx 6.4 cannot do
// (pipeline mode), helpers for transactions driven by hand, and the one
// place that classifies PostgreSQL's refusals by SQLSTATE. A lost
// connection is dropped and opened again by the next open(). Not
// thread-safe: one owner.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>

namespace wtcache {

// libpqxx 6.4 keeps the libpq handle to itself; its connection policy is
// the one place that sees it, once, as it connects (on the owner's thread).
class handle_seeing_connect : public pqxx::connect_direct {
public:
  explicit handle_seeing_connect(const std::string& opts) : pqxx::connect_direct(opts) {}
  handle do_startconnect(handle orig) override;
};

// Held as itself: pqxx::connection_base has no virtual destructor, and only
// this type's destructor closes the connection.
using session_connection = pqxx::basic_connection_base<handle_seeing_connect>;

struct session_settings {
  std::string url;  // with connection timeouts (backends/endpoints.hpp)
  // SET statement_timeout and lock_timeout: our own deadline for every
  // statement, below the callers' request timeouts.
  std::chrono::milliseconds statement_timeout{3000};
  // SET plan_cache_mode = force_generic_plan, for prepared statements whose
  // best plan does not depend on their parameters.
  bool generic_plans = false;
};

// Why PostgreSQL refused a statement, as far as a caller must tell apart.
enum class refusal {
  for_good,   // SQLSTATE class 22 (data exception) or 23 (constraint): no retry helps
  timed_out,  // 57014 (statement timeout) or 55P03 (lock not available)
  other,
};
refusal classify(const pqxx::sql_error& e);

// Array literals for a bound parameter ($1::bigint[], $1::text[]): libpqxx
// 6.4 binds no arrays. Text elements are quoted, with '"' and '\' escaped;
// a missing number (std::nullopt) is NULL.
std::string number_array(const std::vector<int64_t>& xs);
std::string number_array(const std::vector<std::optional<int64_t>>& xs);
std::string text_array(const std::vector<std::string>& xs);
// The type of `table`'s `column` to cast a text parameter to: as
// format_type() names it, without its modifier (a cast to varchar(8) would
// silently truncate, while inserting into the column raises), and for
// character(n) and bit(n) their unbounded forms (bpchar, bit varying).
// Throws std::runtime_error when there is none.
std::string column_type(pqxx::transaction_base& tx, const std::string& table,
                        const std::string& column);
// A value as a text parameter of a batched statement: bytea goes as hex
// (decoded in SQL), anything else as it is.
std::string value_parameter(const std::string& value, bool bytea);

class postgres_session {
public:
  postgres_session() = default;
  explicit postgres_session(session_settings settings) : settings_(std::move(settings)) {}
  postgres_session(const postgres_session&) = delete;
  postgres_session& operator=(const postgres_session&) = delete;
  postgres_session(postgres_session&& other) noexcept { *this = std::move(other); }
  postgres_session& operator=(postgres_session&& other) noexcept {
    settings_ = std::move(other.settings_);
    conn_ = std::move(other.conn_);
    raw_ = other.raw_;
    other.raw_ = nullptr;
    return *this;
  }

  // Connects unless open, then runs `prepare` on the new connection (the
  // owner's statements). A failure is ec::postgres_unavailable.
  caf::error open(const std::function<void(session_connection&, pqxx::internal::pq::PGconn*)>&
                    prepare = {});
  bool is_open() const { return conn_ && conn_->is_open(); }
  // Closes the connection (and with it the session's locks, once the
  // backend has gone).
  void close();

  session_connection& conn() { return *conn_; }
  // The same connection as libpq sees it; valid while is_open().
  pqxx::internal::pq::PGconn* raw() { return raw_; }

  // Ends a transaction that failed, so the session can go on; a session
  // that cannot even do that is closed.
  void rollback();

  // One call outside a transaction, opening the session first: an SQL
  // refusal is ec::postgres_error, anything else drops the connection and
  // is ec::postgres_unavailable.
  template <class F>
  auto alone(F f) -> caf::expected<decltype(f(std::declval<pqxx::nontransaction&>()))> {
    if (auto err = open())
      return err;
    try {
      pqxx::nontransaction tx(*conn_);
      return f(tx);
    } catch (const pqxx::sql_error& e) {
      return refused(e);
    } catch (const std::exception& e) {  // pqxx::broken_connection among them
      return lost(e);
    }
  }

  // ec::postgres_error with PostgreSQL's message.
  static caf::error refused(const pqxx::sql_error& e);
  // The same, except that a timeout is ec::timeout saying `timeout_text`:
  // a statement timeout, and a lock timeout unless `statement_only` (a read
  // that waited for a lock, e.g. behind a migration's, is a refusal: the
  // server is up).
  static caf::error refused(const pqxx::sql_error& e, const char* timeout_text,
                            bool statement_only = false);
  // Drops the connection; ec::postgres_unavailable with the reason.
  caf::error lost(const std::exception& e);

private:
  session_settings settings_;
  std::unique_ptr<session_connection> conn_;
  pqxx::internal::pq::PGconn* raw_ = nullptr;
};

}  // namespace wtcache
