// What a write does to a key's string value, decided from the key's row as
// the writing transaction sees it under its lock: SET's conditions, GET's
// old value, APPEND, SETRANGE, INCR, INCRBYFLOAT, the EXPIRE family,
// PERSIST, GETDEL. Pure: the PostgreSQL worker reads the row, asks
// decide(), and writes what it says, so every node decides alike and the
// cache (which may have evicted the key) never decides. Replies and error
// texts are Redis 7.0's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/namespaces.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

// The key's row under the transaction's lock.
struct current_row {
  bool exists = false;      // a row, and not expired
  bool expired = false;     // a row whose expiry has passed (absent for every command)
  std::string value;
  int64_t version = 0;      // 0: no live row
  int64_t expires_ms = -1;  // Unix ms; -1: none
  int64_t now_ms = 0;       // PostgreSQL's clock, the one every node shares
};

struct decision {
  enum action_t : int8_t { keep, write, remove } action = keep;
  std::string value;        // write: the new value
  int64_t expires_ms = -1;  // write: the new expiry (Unix ms), -1 none
  std::string error;        // refused: nothing changes, this is the reply
  // The reply's parts (messages/shard_protocol.hpp, write_answer).
  bool applied = true;      // NX/XX/GT/LT held, EXPIRE/PERSIST changed something
  int64_t number = 0;       // INCR's value, APPEND's and SETRANGE's length, DEL's count
  bool found = false;       // `bulk` is the reply (else nil)
  std::string bulk;         // GET's old value, GETEX's value, INCRBYFLOAT's result
};

// `max_bytes`: the largest value a write may leave (APPEND, SETRANGE).
decision decide(const store_op& op, const current_row& row, std::size_t max_bytes);

// decide() in a namespace whose expiry = "cache" (`cache_only`): the value
// never expires, so NX, XX, GT and LT judge a key without a TTL, and the
// EXPIRE family sets the cache copy's TTL instead: `cache_ttl_ms` (0: drop
// the copy now; left alone unless the op is an EXPIRE), with the value
// written again (a new version) so that the TTL reaches the cache fenced.
decision decide_in(const store_op& op, const current_row& row, std::size_t max_bytes,
                   bool cache_only, int64_t& cache_ttl_ms);

// Why the value a write made (APPEND, SETRANGE, INCRBYFLOAT: the client
// sent only part of it) cannot be stored in a column of `type`; empty when
// it can.
std::string unstorable_result(value_type type, op_kind kind, const std::string& value);

// A number as Redis's INCRBYFLOAT parses it (strtold, no leading space,
// nothing after it, no NaN, no overflow).
std::optional<long double> parse_redis_float(std::string_view s);
// ... and prints its result: 17 decimals, trailing zeros cut.
std::string format_redis_float(long double x);
// An integer as Redis stores one: no leading zeros, no '+', no spaces.
bool parse_redis_integer(const std::string& s, int64_t& out);

}  // namespace wtcache
