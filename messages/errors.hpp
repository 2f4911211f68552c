// The one error enum. Driver failures (libpq, hiredis) and protocol-level
// refusals are converted into it at the boundary where they happen; it
// travels between actors as caf::error and reaches clients through
// client_error_text(), which produces the RESP error line (without '-').
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace wtcache {

enum class ec : uint8_t {
  none = 0,
  // The client's request is wrong; the text is a complete Redis-style error
  // ("ERR value is not an integer or out of range").
  client_error,
  // A backend did not answer in time; nothing is known to have changed.
  timeout,
  // A backend is unreachable; nothing changed.
  postgres_unavailable,
  redis_unavailable,
  // PostgreSQL refused the statement; nothing changed.
  postgres_error,
  redis_error,
  // The connection was lost during COMMIT, or a write's deadline passed while
  // its transaction was in flight: it may or may not have committed.
  outcome_unknown,
  // A limit was reached; retry later.
  busy,
  // The service is stopping: the request was not sent.
  stopped,
};

}  // namespace wtcache

namespace wtcache {

// The one way to build an error: a code and a human-readable context.
inline caf::error make_error(ec code, std::string context = {}) {
  if (context.empty())
    return caf::error{static_cast<uint8_t>(code), caf::atom("wtcache")};
  return caf::error{static_cast<uint8_t>(code), caf::atom("wtcache"),
                    caf::make_message(std::move(context))};
}

// Why a listening socket could not be had ("cannot listen on HOST:PORT ...").
caf::error cannot_listen(const std::string& host, uint16_t port);

// The category atom is "wtcache".
std::string to_string(ec x);

// The line a client sees for any error, local or from CAF (timeouts, dead
// actors), e.g. "ERR outcome unknown: ..." or "BUSY ...".
std::string client_error_text(const caf::error& err);

// The context text an error was made with ("Connection refused"), without
// the code's prefix; empty if it has none.
std::string error_detail(const caf::error& err);

// A driver's message as one line: newlines and tabs become single spaces
// (libpq's messages span lines), trailing blanks go.
std::string one_line(std::string s);

// Registers the error category's renderer with CAF.
void add_error_category(caf::actor_system_config& cfg);

}  // namespace wtcache

CAF_ERROR_CODE_ENUM(wtcache::ec, "wtcache")
