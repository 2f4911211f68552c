// What a client command asks for, decided without touching any backend:
// arity and syntax checks, option parsing, and the value checks a namespace
// demands (size limit, JSON for jsonb, no NUL bytes in text columns). The
// connection actor executes the resulting plan; everything refused here
// changed nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/namespaces.hpp"
#include "messages/shard_protocol.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

enum class plan_kind {
  reply,  // answer `reply` (a complete RESP value) at once
  read,   // look up `keys`
  write,  // run `request`
  info,   // INFO [section]
  keyspace,  // SCAN, KEYS, DBSIZE, FLUSHDB: `scan`
  local,     // the connection's own, in order with its other commands (UNWATCH, EXEC)
};

enum class reply_shape {
  none,
  // Reads.
  bulk,          // GET: the value or nil
  bulk_array,    // MGET: one bulk or nil per key
  found_count,   // EXISTS, TOUCH: number of keys found
  type_name,     // TYPE: "string" or "none"
  length,        // STRLEN: the value's length, 0 if absent
  range,         // GETRANGE: the bytes from range_start to range_end
  ttl_seconds,   // TTL: -2 absent, -1 no expiry, else the seconds left (rounded)
  ttl_millis,    // PTTL
  expire_seconds,  // EXPIRETIME: the Unix time it expires at
  expire_millis,   // PEXPIRETIME
  // Writes.
  ok,            // SET, MSET: +OK
  ok_or_nil,     // SET NX/XX: +OK, or nil when the condition failed
  first_number,  // INCR family, APPEND, SETRANGE: the number
  sum_numbers,   // DEL, UNLINK: rows deleted
  first_bulk,    // SET GET, GETSET, GETDEL, GETEX, INCRBYFLOAT: the bulk or nil
  applied,       // SETNX, MSETNX, EXPIRE family, PERSIST: 1 when it took effect, else 0
  // The keyspace.
  scan_page,     // SCAN: [cursor, [keys...]]
  key_list,      // KEYS: [keys...]
  key_count,     // DBSIZE
  flushed,       // FLUSHDB, FLUSHALL: +OK once the default table is empty
  // Transactions.
  watched,       // WATCH: +OK once each key's version is known
  exec,          // EXEC: one reply per queued command, or nil if a watched key changed
};

struct command_plan {
  plan_kind kind = plan_kind::reply;
  std::string reply;  // plan_kind::reply: the RESP-encoded answer
  bool close_after = false;  // QUIT
  std::vector<std::string> keys;  // read
  write_request request;          // write
  reply_shape shape = reply_shape::none;
  std::string info_section;  // info: lower-case, empty for the default sections
  bool with_expiry = false;  // read: each key's row with its expiry (shard atom::ttl)
  int64_t range_start = 0, range_end = 0;  // GETRANGE
  scan_request scan;  // keyspace
  // MULTI, EXEC, DISCARD, UNWATCH, RESET: the connection's own (its
  // transaction state), in upper case; empty for every other command.
  std::string control;
  std::vector<std::string> control_args;  // CLIENT, HELLO, AUTH: the arguments after the name
  // EXEC: the commands MULTI queued, in order.
  std::vector<command_plan> queued;
};

struct command_limits {
  std::size_t max_value_bytes = 16 * 1024 * 1024;
  bool allow_flush = false;  // [server] allow_flush: FLUSHDB empties wtcache_kv
  // What CONFIG GET reports of them.
  std::size_t maxclients = 10000;
  long long idle_timeout_seconds = 0;
};

command_plan plan_command(std::vector<std::string>& args, const namespace_table& spaces,
                          const command_limits& limits);

// The checks every write passes, for the RESP commands and the typed
// embedding API alike. Each returns Redis-style error text, empty when fine.
//   check_key: a key its namespace's key column can store.
//   check_value: a value within max_value_bytes that the column's type can
//     store (valid JSON for jsonb, no NUL byte in text).
//   check_relative_expiry: `ms` from now (PX) positive and storable;
//     `name` is the command the error names.
std::string check_key(const std::string& key, const namespace_table& spaces);
std::string check_value(const std::string& key, const std::string& value,
                        const namespace_table& spaces, const command_limits& limits);
std::string check_relative_expiry(int64_t ms, const std::string& name);
// A command's keys must all be write-through or all write-behind: the two
// are acknowledged at different points and cannot be one atomic write.
bool mixes_modes(const write_request& req, const namespace_table& spaces);

// The error text for a command whose argument was skipped as oversized.
std::string oversized_error(std::size_t bytes, std::size_t limit);

// The commands wtcached answers (core/command_table.hpp), for tests.
const std::vector<std::string>& supported_commands();

}  // namespace wtcache
