// Command planning: RESP arguments into a reply, a read or a write request.
#include "core/commands.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <chrono>
#include <climits>

#include "core/ascii.hpp"
#include "core/command_table.hpp"
#include "core/deadline.hpp"
#include "core/glob.hpp"
#include "core/json.hpp"
#include "core/resp.hpp"
#include "core/string_ops.hpp"

namespace wtcache {

namespace {


command_plan error_plan(const std::string& text) {
  command_plan p;
  resp::error(p.reply, text);
  return p;
}

command_plan arity_error(const std::string& name) {
  return error_plan("ERR wrong number of arguments for '" + name + "' command");
}

// As Redis's string2ll: no leading zeros, no "-0", no '+', no spaces.
bool parse_int64(const std::string& s, int64_t& out) { return parse_redis_integer(s, out); }

// The latest expiry PostgreSQL's timestamptz holds (year 294276), in Unix ms.
constexpr int64_t latest_expiry_ms = 9'200'000'000'000'000LL;

}  // namespace

std::string check_key(const std::string& key, const namespace_table& spaces) {
  auto m = spaces.resolve(key);
  if (m.id.find('\0') != std::string_view::npos)
    return "ERR key contains a NUL byte, which the key column cannot store";
  return {};
}

std::string check_value(const std::string& key, const std::string& value,
                        const namespace_table& spaces, const command_limits& limits) {
  if (value.size() > limits.max_value_bytes)
    return oversized_error(value.size(), limits.max_value_bytes);
  const auto& ns = spaces.at(spaces.resolve(key).index);
  if (ns.type == value_type::bytea)
    return {};
  if (value.find('\0') != std::string::npos)
    return "ERR value contains a NUL byte, which a " + std::string(to_string(ns.type)) +
           " column cannot store";
  if (ns.type == value_type::jsonb)
    if (auto err = json_error(value))
      return "ERR " + *err;
  return {};
}

bool mixes_modes(const write_request& req, const namespace_table& spaces) {
  auto mode_of = [&](const key_write& w) { return spaces.at(spaces.resolve(w.key).index).mode; };
  return std::any_of(req.writes.begin(), req.writes.end(),
                     [&](const key_write& w) { return mode_of(w) != mode_of(req.writes.front()); });
}

std::string check_relative_expiry(int64_t ms, const std::string& name) {
  if (ms <= 0 || ms > latest_expiry_ms - unix_now_ms())
    return "ERR invalid expire time in '" + name + "' command";
  return {};
}

namespace {

command_plan mixed_modes_error(const std::string& name) {
  return error_plan("ERR " + uppered(name) +
                    " mixes write-through and write-behind keys; send them separately");
}


// The namespace of a key.
const namespace_config& space_of(const std::string& key, const namespace_table& spaces) {
  return spaces.at(spaces.resolve(key).index);
}

// A plan of one write; checks the key, the value (when `value_checked`)
// and the namespace.
command_plan one_write(const std::string& name, key_write w, reply_shape shape,
                       const namespace_table& spaces, const command_limits& limits,
                       bool check_the_value) {
  if (auto e = check_key(w.key, spaces); !e.empty())
    return error_plan(e);
  if (check_the_value)
    if (auto e = check_value(w.key, w.value, spaces, limits); !e.empty())
      return error_plan(e);
  command_plan p;
  p.kind = plan_kind::write;
  p.shape = shape;
  p.request.writes.push_back(std::move(w));
  return p;
}

// EX/PX/EXAT/PXAT's argument, as Redis checks it: an integer, positive, and
// in range once in milliseconds. Empty error when fine.
std::string parse_expiry(const std::string& name, const std::string& unit, const std::string& arg,
                         key_write& w) {
  int64_t n = 0;
  if (!parse_int64(arg, n))
    return "ERR value is not an integer or out of range";
  bool seconds = unit == "EX" || unit == "EXAT";
  bool relative = unit == "EX" || unit == "PX";
  auto invalid = "ERR invalid expire time in '" + name + "' command";
  if (n <= 0 || (seconds && n > LLONG_MAX / 1000))
    return invalid;
  if (seconds)
    n *= 1000;
  if (relative && n > LLONG_MAX - unix_now_ms())
    return invalid;
  if ((relative ? n + unix_now_ms() : n) > latest_expiry_ms)
    return invalid;
  w.expiry = relative ? expiry_change::in : expiry_change::at;
  w.expiry_ms = n;
  return {};
}

command_plan plan_set(std::vector<std::string>& args, const namespace_table& spaces,
                      const command_limits& limits) {
  if (args.size() < 3)
    return arity_error("set");
  key_write w;
  w.kind = op_kind::set;
  // As Redis parses them: an option may repeat, but NX and XX exclude each
  // other, and so do KEEPTTL and the four expiry forms among themselves.
  std::string unit, unit_arg;
  bool keepttl = false;
  for (std::size_t i = 3; i < args.size(); ++i) {
    auto opt = uppered(args[i]);
    bool has_next = i + 1 < args.size();
    if (opt == "NX" && !(w.flags & op_flag::xx)) {
      w.flags |= op_flag::nx;
    } else if (opt == "XX" && !(w.flags & op_flag::nx)) {
      w.flags |= op_flag::xx;
    } else if (opt == "GET") {
      w.flags |= op_flag::get;
    } else if (opt == "KEEPTTL" && unit.empty()) {
      keepttl = true;
    } else if ((opt == "EX" || opt == "PX" || opt == "EXAT" || opt == "PXAT") && !keepttl &&
               (unit.empty() || unit == opt) && has_next) {
      unit = opt;
      unit_arg = args[++i];
    } else {
      return error_plan("ERR syntax error");
    }
  }
  if (!unit.empty())
    if (auto e = parse_expiry("set", unit, unit_arg, w); !e.empty())
      return error_plan(e);
  if (keepttl)
    w.expiry = expiry_change::keep;
  auto shape = (w.flags & op_flag::get) ? reply_shape::first_bulk
               : (w.flags & (op_flag::nx | op_flag::xx)) ? reply_shape::ok_or_nil
                                                          : reply_shape::ok;
  w.key = std::move(args[1]);
  w.value = std::move(args[2]);
  return one_write("set", std::move(w), shape, spaces, limits, true);
}

// SETEX, PSETEX: key, time, value.
command_plan plan_setex(std::vector<std::string>& args, const namespace_table& spaces,
                        const command_limits& limits, const std::string& name) {
  if (args.size() != 4)
    return arity_error(name);
  key_write w;
  w.kind = op_kind::set;
  if (auto e = parse_expiry(name, name == "setex" ? "EX" : "PX", args[2], w); !e.empty())
    return error_plan(e);
  w.key = std::move(args[1]);
  w.value = std::move(args[3]);
  return one_write(name, std::move(w), reply_shape::ok, spaces, limits, true);
}

// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX|XX|GT|LT].
command_plan plan_expire(std::vector<std::string>& args, const namespace_table& spaces,
                         const command_limits& limits, const std::string& name) {
  if (args.size() < 3)
    return arity_error(name);
  int64_t when = 0;
  if (!parse_int64(args[2], when))
    return error_plan("ERR value is not an integer or out of range");
  key_write w;
  w.kind = op_kind::expire;
  for (std::size_t i = 3; i < args.size(); ++i) {
    auto opt = uppered(args[i]);
    if (opt == "NX")
      w.flags |= op_flag::nx;
    else if (opt == "XX")
      w.flags |= op_flag::xx;
    else if (opt == "GT")
      w.flags |= op_flag::gt;
    else if (opt == "LT")
      w.flags |= op_flag::lt;
    else
      return error_plan("ERR Unsupported option " + args[i]);
  }
  if ((w.flags & op_flag::nx) && (w.flags & (op_flag::xx | op_flag::gt | op_flag::lt)))
    return error_plan("ERR NX and XX, GT or LT options at the same time are not compatible");
  if ((w.flags & op_flag::gt) && (w.flags & op_flag::lt))
    return error_plan("ERR GT and LT options at the same time are not compatible");
  bool seconds = name == "expire" || name == "expireat";
  bool relative = name == "expire" || name == "pexpire";
  auto invalid = error_plan("ERR invalid expire time in '" + name + "' command");
  if (seconds) {
    if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)
      return invalid;
    when *= 1000;
  }
  // Relative times are added to PostgreSQL's clock, when the row is locked.
  auto now = unix_now_ms();
  if (relative && ((when > 0 && when > LLONG_MAX - now) || (when < 0 && when < LLONG_MIN + now)))
    return invalid;
  if ((relative ? when + now : when) > latest_expiry_ms)
    return invalid;
  // A time in the past deletes the key.
  w.expiry = relative ? expiry_change::in : expiry_change::at;
  w.expiry_ms = relative ? when : std::max<int64_t>(when, 0);
  w.key = std::move(args[1]);
  return one_write(name, std::move(w), reply_shape::applied, spaces, limits, false);
}

// GETEX key [EX|PX|EXAT|PXAT time | PERSIST]: without an option, a GET.
command_plan plan_getex(std::vector<std::string>& args, const namespace_table& spaces,
                        const command_limits& limits) {
  if (args.size() < 2)
    return arity_error("getex");
  key_write w;
  w.kind = op_kind::expire;
  w.flags = op_flag::get;
  std::string unit, unit_arg;
  bool persist = false;
  for (std::size_t i = 2; i < args.size(); ++i) {
    auto opt = uppered(args[i]);
    bool has_next = i + 1 < args.size();
    if (opt == "PERSIST" && unit.empty()) {
      persist = true;
    } else if ((opt == "EX" || opt == "PX" || opt == "EXAT" || opt == "PXAT") && !persist &&
               (unit.empty() || unit == opt) && has_next) {
      unit = opt;
      unit_arg = args[++i];
    } else {
      return error_plan("ERR syntax error");
    }
  }
  if (unit.empty() && !persist) {
    args.resize(2);
    command_plan p;
    p.kind = plan_kind::read;
    p.shape = reply_shape::bulk;
    if (auto e = check_key(args[1], spaces); !e.empty())
      return error_plan(e);
    p.keys.push_back(std::move(args[1]));
    return p;
  }
  if (persist) {
    w.kind = op_kind::persist;
  } else {
    if (auto e = parse_expiry("getex", unit, unit_arg, w); !e.empty())
      return error_plan(e);
  }
  w.key = std::move(args[1]);
  return one_write("getex", std::move(w), reply_shape::first_bulk, spaces, limits, false);
}

command_plan plan_incr(std::vector<std::string>& args, const namespace_table& spaces,
                       const command_limits& limits, const std::string& name) {
  bool by = name == "incrby" || name == "decrby";
  if (args.size() != (by ? 3u : 2u))
    return arity_error(name);
  int64_t delta = 1;
  if (by && !parse_int64(args[2], delta))
    return error_plan("ERR value is not an integer or out of range");
  if (name == "decr" || name == "decrby") {
    if (delta == LLONG_MIN)
      return error_plan("ERR decrement would overflow");
    delta = -delta;
  }
  key_write w;
  w.kind = op_kind::incr;
  w.key = std::move(args[1]);
  w.delta = delta;
  w.expiry = expiry_change::keep;
  return one_write(name, std::move(w), reply_shape::first_number, spaces, limits, false);
}

command_plan plan_incrbyfloat(std::vector<std::string>& args, const namespace_table& spaces,
                              const command_limits& limits) {
  if (args.size() != 3)
    return arity_error("incrbyfloat");
  if (!parse_redis_float(args[2]))
    return error_plan("ERR value is not a valid float");
  key_write w;
  w.kind = op_kind::incr_float;
  w.key = std::move(args[1]);
  w.value = std::move(args[2]);
  w.expiry = expiry_change::keep;
  return one_write("incrbyfloat", std::move(w), reply_shape::first_bulk, spaces, limits, false);
}

// APPEND key value, SETRANGE key offset value: the result is checked in
// the transaction (its length) and by PostgreSQL (its type).
command_plan plan_append(std::vector<std::string>& args, const namespace_table& spaces,
                         const command_limits& limits, const std::string& name) {
  bool range = name == "setrange";
  if (args.size() != (range ? 4u : 3u))
    return arity_error(name);
  key_write w;
  w.kind = range ? op_kind::setrange : op_kind::append;
  if (range) {
    if (!parse_int64(args[2], w.delta))
      return error_plan("ERR value is not an integer or out of range");
    if (w.delta < 0)
      return error_plan("ERR offset is out of range");
  }
  w.key = std::move(args[1]);
  w.value = std::move(args[range ? 3 : 2]);
  w.expiry = expiry_change::keep;
  if (w.value.size() > limits.max_value_bytes)
    return error_plan("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
  return one_write(name, std::move(w), reply_shape::first_number, spaces, limits, false);
}

// Several keys, each with its own write of `kind` (DEL, UNLINK; MSET,
// MSETNX in pairs).
command_plan plan_multi_key(std::vector<std::string>& args, const namespace_table& spaces,
                            const command_limits& limits, const std::string& name) {
  bool pairs = name == "mset" || name == "msetnx";
  if (args.size() < (pairs ? 3u : 2u) || (pairs && args.size() % 2 == 0))
    return arity_error(name);
  command_plan p;
  p.kind = plan_kind::write;
  p.shape = name == "mset" ? reply_shape::ok
            : pairs        ? reply_shape::applied
                           : reply_shape::sum_numbers;
  for (std::size_t i = 1; i < args.size(); i += pairs ? 2 : 1) {
    if (auto e = check_key(args[i], spaces); !e.empty())
      return error_plan(e);
    key_write w;
    w.kind = pairs ? op_kind::set : op_kind::del;
    w.key = std::move(args[i]);
    if (pairs) {
      if (auto e = check_value(w.key, args[i + 1], spaces, limits); !e.empty())
        return error_plan(e);
      w.value = std::move(args[i + 1]);
      if (name == "msetnx")
        w.flags = op_flag::together;
    }
    p.request.writes.push_back(std::move(w));
  }
  if (mixes_modes(p.request, spaces))
    return mixed_modes_error(name);
  return p;
}

command_plan plan_read(std::vector<std::string>& args, const namespace_table& spaces,
                       const std::string& name, reply_shape shape) {
  bool many = shape == reply_shape::bulk_array || shape == reply_shape::found_count ||
              shape == reply_shape::watched;
  if (args.size() < 2 || (!many && args.size() != 2))
    return arity_error(name);
  command_plan p;
  p.kind = plan_kind::read;
  p.shape = shape;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (auto e = check_key(args[i], spaces); !e.empty())
      return error_plan(e);
    p.keys.push_back(std::move(args[i]));
  }
  return p;
}

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type], KEYS pattern, DBSIZE,
// FLUSHDB/FLUSHALL [ASYNC|SYNC].
command_plan plan_keyspace(const std::vector<std::string>& args, const command_limits& limits,
                           const std::string& name) {
  command_plan p;
  p.kind = plan_kind::keyspace;
  if (name == "dbsize") {
    if (args.size() != 1)
      return arity_error(name);
    p.shape = reply_shape::key_count;
    p.scan.what = scan_request::size;
    return p;
  }
  if (name == "keys") {
    if (args.size() != 2)
      return arity_error(name);
    p.shape = reply_shape::key_list;
    p.scan.what = scan_request::keys;
    p.scan.pattern = args[1] == "*" ? std::string() : args[1];
    return p;
  }
  if (name == "flushdb" || name == "flushall") {
    if (args.size() > 2)
      return error_plan("ERR syntax error");
    if (args.size() == 2 && uppered(args[1]) != "ASYNC" && uppered(args[1]) != "SYNC")
      return error_plan("ERR syntax error");
    if (!limits.allow_flush)
      return error_plan("ERR " + uppered(name) +
                        " is refused: set [server] allow_flush = true to let it empty the "
                        "default table wtcache_kv; tables mapped by namespaces are never "
                        "emptied by a Redis command");
    p.shape = reply_shape::flushed;
    p.scan.what = scan_request::default_keys;
    // Pages small enough that each one's transaction (a DELETE per key)
    // stays well inside the PostgreSQL timeout on a busy machine.
    p.scan.count = 200;
    return p;
  }
  if (args.size() < 2)
    return arity_error(name);
  const auto& c = args[1];
  auto digits = !c.empty() && c.size() <= 20 &&
                std::all_of(c.begin(), c.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  errno = 0;
  auto cursor = digits ? std::strtoull(c.c_str(), nullptr, 10) : 0;
  if (!digits || errno == ERANGE)
    return error_plan("ERR invalid cursor");
  p.shape = reply_shape::scan_page;
  p.scan.what = scan_request::scan;
  p.scan.cursor = cursor;
  bool other_type = false;
  for (std::size_t i = 2; i < args.size(); i += 2) {
    auto opt = uppered(args[i]);
    if (i + 1 >= args.size())
      return error_plan("ERR syntax error");
    if (opt == "COUNT") {
      int64_t n = 0;
      if (!parse_int64(args[i + 1], n))
        return error_plan("ERR value is not an integer or out of range");
      if (n < 1)
        return error_plan("ERR syntax error");
      p.scan.count = std::min<int64_t>(n, 100000);
    } else if (opt == "MATCH") {
      p.scan.pattern = args[i + 1] == "*" ? std::string() : args[i + 1];
    } else if (opt == "TYPE") {
      // Every key here is a string: another type matches none of them.
      other_type = lowered(args[i + 1]) != "string";
    } else {
      return error_plan("ERR syntax error");
    }
  }
  if (other_type) {
    // The whole scan would find nothing: say so at once.
    resp::array_header(p.reply, 2);
    resp::bulk(p.reply, "0");
    resp::array_header(p.reply, 0);
    p.kind = plan_kind::reply;
  }
  return p;
}

// COMMAND's description of one command, as Redis 7.0 shapes it (ten
// fields; the ACL categories, tips, key specs and subcommands left empty).
void command_entry(std::string& out, const command_info& c) {
  resp::array_header(out, 10);
  resp::bulk(out, c.name);
  resp::integer(out, c.arity);
  resp::array_header(out, c.flags.size());
  for (auto* f : c.flags)
    resp::simple(out, f);
  resp::integer(out, c.first_key);
  resp::integer(out, c.last_key);
  resp::integer(out, c.step);
  for (int i = 0; i < 4; ++i)
    resp::array_header(out, 0);
}

void command_docs(std::string& out, const command_info& c) {
  resp::bulk(out, c.name);
  resp::array_header(out, 6);
  resp::bulk(out, "summary");
  resp::bulk(out, c.summary);
  resp::bulk(out, "since");
  resp::bulk(out, c.since);
  resp::bulk(out, "group");
  resp::bulk(out, c.group);
}

command_plan plan_command_command(const std::vector<std::string>& args) {
  command_plan p;
  const auto& table = command_table();
  auto sub = args.size() > 1 ? uppered(args[1]) : std::string();
  if (sub.empty()) {
    resp::array_header(p.reply, table.size());
    for (auto& c : table)
      command_entry(p.reply, c);
  } else if (sub == "COUNT" && args.size() == 2) {
    resp::integer(p.reply, static_cast<long long>(table.size()));
  } else if (sub == "LIST" && args.size() == 2) {
    resp::array_header(p.reply, table.size());
    for (auto& c : table)
      resp::bulk(p.reply, c.name);
  } else if (sub == "INFO") {
    if (args.size() == 2) {
      resp::array_header(p.reply, table.size());
      for (auto& c : table)
        command_entry(p.reply, c);
    } else {
      resp::array_header(p.reply, args.size() - 2);
      for (std::size_t i = 2; i < args.size(); ++i) {
        if (auto* c = find_command(lowered(args[i])))
          command_entry(p.reply, *c);
        else
          resp::nil(p.reply);
      }
    }
  } else if (sub == "DOCS") {
    std::vector<const command_info*> docs;
    if (args.size() == 2)
      for (auto& c : table)
        docs.push_back(&c);
    for (std::size_t i = 2; i < args.size(); ++i)
      if (auto* c = find_command(lowered(args[i])))
        docs.push_back(c);
    resp::array_header(p.reply, 2 * docs.size());
    for (auto* c : docs)
      command_docs(p.reply, *c);
  } else if (sub == "COUNT" || sub == "LIST") {
    return error_plan("ERR wrong number of arguments for 'command|" + lowered(args[1]) +
                      "' command");
  } else {
    return error_plan("ERR unknown subcommand '" + args[1] + "'. Try COMMAND HELP.");
  }
  return p;
}

// CONFIG GET: the settings clients and tools probe, as wtcached has them.
command_plan plan_config(const std::vector<std::string>& args, const command_limits& limits) {
  if (args.size() < 2)
    return arity_error("config");
  auto sub = uppered(args[1]);
  if (sub == "GET") {
    if (args.size() < 3)
      return error_plan("ERR wrong number of arguments for 'config|get' command");
    const std::vector<std::pair<std::string, std::string>> settings = {
      {"databases", "1"},
      {"maxmemory", "0"},
      {"maxmemory-policy", "noeviction"},
      {"timeout", std::to_string(limits.idle_timeout_seconds)},
      {"maxclients", std::to_string(limits.maxclients)},
      {"requirepass", ""},  // as Redis 7: never shown
      {"proto-max-bulk-len", std::to_string(limits.max_value_bytes)},
      {"appendonly", "no"},
      {"save", ""},
      {"cluster-enabled", "no"},
      {"notify-keyspace-events", ""},
    };
    std::vector<std::pair<std::string, std::string>> found;
    for (auto& [name, value] : settings)
      for (std::size_t i = 2; i < args.size(); ++i)
        if (glob_match(lowered(args[i]), name)) {
          found.emplace_back(name, value);
          break;
        }
    command_plan p;
    resp::array_header(p.reply, 2 * found.size());
    for (auto& [name, value] : found) {
      resp::bulk(p.reply, name);
      resp::bulk(p.reply, value);
    }
    return p;
  }
  if (sub == "SET" || sub == "RESETSTAT" || sub == "REWRITE")
    return error_plan("ERR CONFIG " + sub + " is not supported by wtcached; its settings are in "
                      "config/wtcache.toml and take effect at start");
  return error_plan("ERR unknown subcommand '" + args[1] + "'. Try CONFIG HELP.");
}

}  // namespace

std::string oversized_error(std::size_t bytes, std::size_t limit) {
  return "ERR value too large (" + std::to_string(bytes) + " bytes; the limit is " +
         std::to_string(limit) + ")";
}

const std::vector<std::string>& supported_commands() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (auto& c : command_table())
      out.push_back(c.name);
    return out;
  }();
  return names;
}


command_plan plan_command(std::vector<std::string>& args, const namespace_table& spaces,
                          const command_limits& limits) {
  auto name = lowered(args[0]);
  if (name == "get")
    return plan_read(args, spaces, name, reply_shape::bulk);
  if (name == "mget")
    return plan_read(args, spaces, name, reply_shape::bulk_array);
  if (name == "exists" || name == "touch")
    return plan_read(args, spaces, name, reply_shape::found_count);
  if (name == "type")
    return plan_read(args, spaces, name, reply_shape::type_name);
  if (name == "strlen")
    return plan_read(args, spaces, name, reply_shape::length);
  if (name == "getrange" || name == "substr") {
    if (args.size() != 4)
      return arity_error(name);
    int64_t start = 0, end = 0;
    if (!parse_int64(args[2], start) || !parse_int64(args[3], end))
      return error_plan("ERR value is not an integer or out of range");
    args.resize(2);
    auto p = plan_read(args, spaces, name, reply_shape::range);
    p.range_start = start;
    p.range_end = end;
    return p;
  }
  if (name == "ttl" || name == "pttl" || name == "expiretime" || name == "pexpiretime") {
    auto shape = name == "ttl"          ? reply_shape::ttl_seconds
                 : name == "pttl"       ? reply_shape::ttl_millis
                 : name == "expiretime" ? reply_shape::expire_seconds
                                        : reply_shape::expire_millis;
    auto p = plan_read(args, spaces, name, shape);
    // expiry = "value": the value's expiry, as the shard has it (the row's,
    // or a write-behind key's newest in Redis). "cache": the cache copy's.
    if (p.kind == plan_kind::read) {
      const auto& ns = space_of(p.keys[0], spaces);
      p.with_expiry = ns.expiry == expiry_mode::value;
    }
    return p;
  }
  if (name == "set")
    return plan_set(args, spaces, limits);
  if (name == "setex" || name == "psetex")
    return plan_setex(args, spaces, limits, name);
  // One key, fixed arity: SETNX and GETSET (key value), GETDEL and PERSIST (key).
  struct simple {
    const char* name;
    op_kind kind;
    uint8_t flags;
    reply_shape shape;
    bool has_value;
  };
  static const simple simples[] = {
    {"setnx", op_kind::set, op_flag::nx, reply_shape::applied, true},
    {"getset", op_kind::set, op_flag::get, reply_shape::first_bulk, true},
    {"getdel", op_kind::del, op_flag::get, reply_shape::first_bulk, false},
    {"persist", op_kind::persist, 0, reply_shape::applied, false},
  };
  for (auto& c : simples) {
    if (name != c.name)
      continue;
    if (args.size() != (c.has_value ? 3u : 2u))
      return arity_error(name);
    key_write w;
    w.kind = c.kind;
    w.flags = c.flags;
    w.key = std::move(args[1]);
    if (c.has_value)
      w.value = std::move(args[2]);
    return one_write(name, std::move(w), c.shape, spaces, limits, c.has_value);
  }
  if (name == "getex")
    return plan_getex(args, spaces, limits);
  if (name == "expire" || name == "pexpire" || name == "expireat" || name == "pexpireat")
    return plan_expire(args, spaces, limits, name);
  if (name == "incr" || name == "incrby" || name == "decr" || name == "decrby")
    return plan_incr(args, spaces, limits, name);
  if (name == "incrbyfloat")
    return plan_incrbyfloat(args, spaces, limits);
  if (name == "append" || name == "setrange")
    return plan_append(args, spaces, limits, name);
  if (name == "del" || name == "unlink" || name == "mset" || name == "msetnx")
    return plan_multi_key(args, spaces, limits, name);
  if (name == "multi" || name == "exec" || name == "discard" || name == "unwatch" ||
      name == "reset") {
    if (args.size() != 1)
      return arity_error(name);
    command_plan p;
    p.control = uppered(name);
    return p;
  }
  if (name == "watch") {
    auto p = plan_read(args, spaces, name, reply_shape::watched);
    p.with_expiry = p.kind == plan_kind::read;
    return p;
  }
  if (name == "scan" || name == "keys" || name == "dbsize" || name == "flushdb" ||
      name == "flushall")
    return plan_keyspace(args, limits, name);
  command_plan p;
  if (name == "ping") {
    if (args.size() > 2)
      return arity_error(name);
    if (args.size() == 2)
      resp::bulk(p.reply, args[1]);
    else
      resp::simple(p.reply, "PONG");
    return p;
  }
  if (name == "echo") {
    if (args.size() != 2)
      return arity_error(name);
    resp::bulk(p.reply, args[1]);
    return p;
  }
  if (name == "quit") {
    resp::simple(p.reply, "OK");
    p.close_after = true;
    return p;
  }
  if (name == "select") {
    if (args.size() != 2)
      return arity_error(name);
    int64_t db = 0;
    if (!parse_int64(args[1], db))
      return error_plan("ERR value is not an integer or out of range");
    if (db != 0)
      return error_plan("ERR DB index is out of range");
    resp::simple(p.reply, "OK");
    return p;
  }
  if (name == "hello" || name == "client" || name == "auth") {
    if (name != "hello" && args.size() < 2)
      return arity_error(name);
    p.control = uppered(name);
    p.control_args.assign(args.begin() + 1, args.end());
    return p;
  }
  if (name == "command")
    return plan_command_command(args);
  if (name == "config")
    return plan_config(args, limits);
  if (name == "time") {
    if (args.size() != 1)
      return arity_error(name);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch()).count();
    resp::array_header(p.reply, 2);
    resp::bulk(p.reply, std::to_string(us / 1000000));
    resp::bulk(p.reply, std::to_string(us % 1000000));
    return p;
  }
  if (name == "wait") {
    if (args.size() != 3)
      return arity_error(name);
    int64_t replicas = 0, timeout = 0;
    if (!parse_int64(args[1], replicas) || !parse_int64(args[2], timeout))
      return error_plan("ERR value is not an integer or out of range");
    if (timeout < 0)
      return error_plan("ERR timeout is negative");
    // No replicas: every acknowledged write is in PostgreSQL already.
    resp::integer(p.reply, 0);
    return p;
  }
  if (name == "info") {
    if (args.size() > 2)
      return error_plan("ERR syntax error");
    p.kind = plan_kind::info;
    p.info_section = args.size() == 2 ? lowered(args[1]) : std::string();
    return p;
  }
  std::string msg = "ERR unknown command '" + args[0] + "', with args beginning with: ";
  for (std::size_t i = 1; i < args.size() && msg.size() < 256; ++i)
    msg += "'" + args[i].substr(0, 64) + "' ";
  return error_plan(msg);
}

}  // namespace wtcache
