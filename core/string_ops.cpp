// String writes decided from the row under its lock (Redis 7.0's rules).
#include "core/string_ops.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/json.hpp"

namespace wtcache {

namespace {

constexpr const char* too_long = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

// The expiry a write leaves, by what it says and what the row had.
int64_t expiry_after(const store_op& op, const current_row& row) {
  switch (op.expiry) {
    case expiry_change::clear: return -1;
    case expiry_change::keep: return row.exists ? row.expires_ms : -1;
    case expiry_change::in: return row.now_ms + op.expiry_ms;
    case expiry_change::at: return op.expiry_ms;
  }
  return -1;
}

// Writes `value` with `expires`, or removes the key if that expiry has
// passed already (Redis sets it and it is gone at once).
void write_or_expire(decision& d, std::string value, int64_t expires, const current_row& row) {
  if (expires >= 0 && expires <= row.now_ms) {
    d.action = decision::remove;
    return;
  }
  d.action = decision::write;
  d.value = std::move(value);
  d.expires_ms = expires;
}

void take_old(decision& d, const store_op& op, const current_row& row) {
  if ((op.flags & op_flag::get) && row.exists) {
    d.found = true;
    d.bulk = row.value;
  }
}

decision decide_set(const store_op& op, const current_row& row) {
  decision d;
  take_old(d, op, row);
  if (((op.flags & op_flag::nx) && row.exists) || ((op.flags & op_flag::xx) && !row.exists)) {
    d.applied = false;
    return d;
  }
  write_or_expire(d, op.value, expiry_after(op, row), row);
  return d;
}

decision decide_expire(const store_op& op, const current_row& row) {
  decision d;
  take_old(d, op, row);
  if (!row.exists) {
    d.applied = false;
    return d;
  }
  int64_t when = op.kind == op_kind::persist ? -1 : expiry_after(op, row);
  int64_t had = row.expires_ms;  // -1: none, which GT takes as forever
  bool refused = false;
  if (op.kind == op_kind::persist) {
    refused = had < 0;  // nothing to remove
  } else {
    if (op.flags & op_flag::nx)
      refused = refused || had >= 0;
    if (op.flags & op_flag::xx)
      refused = refused || had < 0;
    if (op.flags & op_flag::gt)
      refused = refused || had < 0 || when <= had;
    if (op.flags & op_flag::lt)
      refused = refused || (had >= 0 && when >= had);
  }
  if (refused) {
    d.applied = false;
    return d;
  }
  write_or_expire(d, row.value, when, row);
  return d;
}

decision decide_incr(const store_op& op, const current_row& row) {
  decision d;
  int64_t value = 0;
  if (row.exists && !parse_redis_integer(row.value, value)) {
    d.error = "ERR value is not an integer or out of range";
    return d;
  }
  if (__builtin_add_overflow(value, op.delta, &value)) {
    d.error = "ERR increment or decrement would overflow";
    return d;
  }
  d.number = value;
  write_or_expire(d, std::to_string(value), expiry_after(op, row), row);
  return d;
}

decision decide_incr_float(const store_op& op, const current_row& row) {
  decision d;
  long double value = 0;
  if (row.exists) {
    auto cur = parse_redis_float(row.value);
    if (!cur) {
      d.error = "ERR value is not a valid float";
      return d;
    }
    value = *cur;
  }
  auto by = parse_redis_float(op.value);
  if (!by) {
    d.error = "ERR value is not a valid float";
    return d;
  }
  value += *by;
  if (std::isnan(value) || std::isinf(value)) {
    d.error = "ERR increment would produce NaN or Infinity";
    return d;
  }
  d.found = true;
  d.bulk = format_redis_float(value);
  write_or_expire(d, d.bulk, expiry_after(op, row), row);
  return d;
}

decision decide_append(const store_op& op, const current_row& row, std::size_t max_bytes) {
  decision d;
  std::string value = row.exists ? row.value : std::string();
  if (value.size() + op.value.size() > max_bytes) {
    d.error = too_long;
    return d;
  }
  value += op.value;
  d.number = static_cast<int64_t>(value.size());
  write_or_expire(d, std::move(value), expiry_after(op, row), row);
  return d;
}

decision decide_setrange(const store_op& op, const current_row& row, std::size_t max_bytes) {
  decision d;
  auto offset = static_cast<std::size_t>(op.delta);
  if (op.value.empty()) {
    d.number = row.exists ? static_cast<int64_t>(row.value.size()) : 0;
    return d;  // nothing to write, and an absent key stays absent
  }
  if (offset > max_bytes || op.value.size() > max_bytes - offset) {
    d.error = too_long;
    return d;
  }
  std::string value = row.exists ? row.value : std::string();
  if (value.size() < offset + op.value.size())
    value.resize(offset + op.value.size(), '\0');
  value.replace(offset, op.value.size(), op.value);
  d.number = static_cast<int64_t>(value.size());
  write_or_expire(d, std::move(value), expiry_after(op, row), row);
  return d;
}

decision decide_del(const store_op& op, const current_row& row) {
  decision d;
  if (op.flags & op_flag::expired) {  // the reaper: unless a write renewed it meanwhile
    if (row.expired) {
      d.action = decision::remove;
      d.number = 1;
    }
    return d;
  }
  take_old(d, op, row);
  if (row.exists) {
    d.action = decision::remove;
    d.number = 1;
  }
  return d;
}

}  // namespace

decision decide(const store_op& op, const current_row& row, std::size_t max_bytes) {
  switch (op.kind) {
    case op_kind::set: return decide_set(op, row);
    case op_kind::del: return decide_del(op, row);
    case op_kind::incr: return decide_incr(op, row);
    case op_kind::incr_float: return decide_incr_float(op, row);
    case op_kind::append: return decide_append(op, row, max_bytes);
    case op_kind::setrange: return decide_setrange(op, row, max_bytes);
    case op_kind::expire:
    case op_kind::persist: return decide_expire(op, row);
    case op_kind::read:
    case op_kind::watch: {
      decision d;
      d.found = row.exists;
      d.bulk = row.value;
      d.applied = op.kind == op_kind::read || row.version == op.delta;
      return d;
    }
  }
  decision d;
  d.error = "ERR unknown write";
  return d;
}

std::optional<long double> parse_redis_float(std::string_view s) {
  // Redis copies into a buffer of 5 KiB and refuses what does not fit.
  if (s.empty() || s.size() >= 5 * 1024 || std::isspace(static_cast<unsigned char>(s[0])))
    return std::nullopt;
  std::string buf(s);
  errno = 0;
  char* end = nullptr;
  long double v = std::strtold(buf.c_str(), &end);
  if (*end != '\0' || std::isnan(v))
    return std::nullopt;
  if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0))
    return std::nullopt;
  return v;
}

std::string format_redis_float(long double x) {
  if (std::isinf(x))
    return x > 0 ? "inf" : "-inf";
  char buf[5 * 1024];
  int n = std::snprintf(buf, sizeof buf, "%.17Lf", x);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf)
    return "0";
  std::string out(buf, static_cast<std::size_t>(n));
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0')
      out.pop_back();
    if (out.back() == '.')
      out.pop_back();
  }
  if (out == "-0")
    out = "0";
  return out;
}

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

decision decide_in(const store_op& op, const current_row& row, std::size_t max_bytes,
                   bool cache_only, int64_t& cache_ttl_ms) {
  if (!cache_only)
    return decide(op, row, max_bytes);
  auto decided = op;
  if (op.kind == op_kind::expire) {
    cache_ttl_ms = op.expiry == expiry_change::in ? std::max<int64_t>(op.expiry_ms, 0)
                                                  : std::max<int64_t>(op.expiry_ms - row.now_ms, 0);
    decided.expiry = expiry_change::at;
    decided.expiry_ms = INT64_MAX;  // in the future: a write, never a delete
  } else {
    decided.expiry = expiry_change::clear;
  }
  auto d = decide(decided, row, max_bytes);
  d.expires_ms = -1;
  return d;
}

std::string unstorable_result(value_type type, op_kind kind, const std::string& value) {
  if (kind == op_kind::set)
    return {};  // checked as the client sent it
  if (type == value_type::jsonb)
    if (auto err = json_error(value))
      return "ERR the result is not JSON, which a jsonb column needs: " + *err;
  if (type == value_type::text && value.find('\0') != std::string::npos)
    return "ERR the result contains a NUL byte, which a text column cannot store";
  return {};
}

}  // namespace wtcache
