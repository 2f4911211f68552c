// Command planning: RESP arguments into a reply, a read or a write request.
#include "core/commands.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>

#include "core/json.hpp"
#include "core/resp.hpp"

namespace wtcache {

namespace {

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

command_plan error_plan(const std::string& text) {
  command_plan p;
  resp::error(p.reply, text);
  return p;
}

command_plan arity_error(const std::string& name) {
  return error_plan("ERR wrong number of arguments for '" + name + "' command");
}

bool parse_int64(const std::string& s, int64_t& out) {
  if (s.empty())
    return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// Checks a key and, for writes, its value against the key's namespace.
// Returns the error text, empty when fine.
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

// A command's keys must all be write-through or all write-behind: the two
// are acknowledged at different points and cannot be one atomic write.
bool mixes_modes(const write_request& req, const namespace_table& spaces) {
  auto mode_of = [&](const key_write& w) { return spaces.at(spaces.resolve(w.key).index).mode; };
  return std::any_of(req.writes.begin(), req.writes.end(),
                     [&](const key_write& w) { return mode_of(w) != mode_of(req.writes.front()); });
}

command_plan mixed_modes_error(const std::string& name) {
  return error_plan("ERR " + upper(name) +
                    " mixes write-through and write-behind keys; send them separately");
}

command_plan plan_set(std::vector<std::string>& args, const namespace_table& spaces,
                      const command_limits& limits) {
  if (args.size() < 3)
    return arity_error("set");
  key_write w;
  w.kind = op_kind::set;
  for (std::size_t i = 3; i < args.size(); ++i) {
    auto opt = upper(args[i]);
    if ((opt == "EX" || opt == "PX") && i + 1 < args.size()) {
      if (w.ttl_ms >= 0)
        return error_plan("ERR syntax error");
      int64_t n = 0;
      if (!parse_int64(args[i + 1], n))
        return error_plan("ERR value is not an integer or out of range");
      // More than a century is a mistake, and Redis's PEXPIRE would refuse it
      // after the row had been written.
      constexpr int64_t max_ms = 100LL * 365 * 24 * 3600 * 1000;
      if (n <= 0 || (opt == "EX" ? n > max_ms / 1000 : n > max_ms))
        return error_plan("ERR invalid expire time in 'set' command");
      w.ttl_ms = opt == "EX" ? n * 1000 : n;
      ++i;
    } else if (opt == "NX" || opt == "XX" || opt == "GET" || opt == "KEEPTTL" ||
               opt == "EXAT" || opt == "PXAT") {
      return error_plan("ERR SET option " + opt + " is not supported by wtcached");
    } else {
      return error_plan("ERR syntax error");
    }
  }
  if (auto e = check_key(args[1], spaces); !e.empty())
    return error_plan(e);
  if (auto e = check_value(args[1], args[2], spaces, limits); !e.empty())
    return error_plan(e);
  w.key = std::move(args[1]);
  w.value = std::move(args[2]);
  command_plan p;
  p.kind = plan_kind::write;
  p.shape = reply_shape::ok;
  p.request.writes.push_back(std::move(w));
  return p;
}

command_plan plan_incr(std::vector<std::string>& args, const namespace_table& spaces,
                       const std::string& name) {
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
  if (auto e = check_key(args[1], spaces); !e.empty())
    return error_plan(e);
  command_plan p;
  p.kind = plan_kind::write;
  p.shape = reply_shape::first_number;
  key_write w;
  w.kind = op_kind::incr;
  w.key = std::move(args[1]);
  w.delta = delta;
  p.request.writes.push_back(std::move(w));
  return p;
}

command_plan plan_read(std::vector<std::string>& args, const namespace_table& spaces,
                       const std::string& name, reply_shape shape) {
  if (args.size() < 2 || (shape == reply_shape::bulk && args.size() != 2))
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

command_plan plan_command_command(const std::vector<std::string>& args) {
  command_plan p;
  auto sub = args.size() > 1 ? upper(args[1]) : std::string();
  if (sub == "COUNT")
    resp::integer(p.reply, static_cast<long long>(supported_commands().size()));
  else if (sub.empty() || sub == "DOCS" || sub == "INFO")
    resp::array_header(p.reply, 0);  // enough for redis-cli's start-up
  else
    return error_plan("ERR unknown subcommand '" + args[1] + "'. Try COMMAND HELP.");
  return p;
}

command_plan plan_client(const std::vector<std::string>& args) {
  if (args.size() < 2)
    return arity_error("client");
  auto sub = upper(args[1]);
  command_plan p;
  if (sub == "SETNAME" && args.size() == 3) {
    if (args[2].find_first_of(" \n\r") != std::string::npos)
      return error_plan("ERR Client names cannot contain spaces, newlines or special characters.");
    resp::simple(p.reply, "OK");
  } else if (sub == "SETINFO" && args.size() == 4) {
    resp::simple(p.reply, "OK");
  } else {
    return error_plan("ERR unknown subcommand or wrong number of arguments for '" + args[1] +
                      "'. Try CLIENT HELP.");
  }
  return p;
}

}  // namespace

std::string oversized_error(std::size_t bytes, std::size_t limit) {
  return "ERR value too large (" + std::to_string(bytes) + " bytes; the limit is " +
         std::to_string(limit) + ")";
}

const std::vector<std::string>& supported_commands() {
  static const std::vector<std::string> names = {
    "get",  "set",   "mget",   "mset",  "del",    "exists", "incr",   "incrby", "decr",
    "decrby", "ping", "echo", "quit", "select", "client", "hello", "command", "info", "config",
  };
  return names;
}

command_plan plan_command(std::vector<std::string>& args, const namespace_table& spaces,
                          const command_limits& limits) {
  auto name = lower(args[0]);
  if (name == "get")
    return plan_read(args, spaces, name, reply_shape::bulk);
  if (name == "set")
    return plan_set(args, spaces, limits);
  if (name == "mget")
    return plan_read(args, spaces, name, reply_shape::bulk_array);
  if (name == "exists")
    return plan_read(args, spaces, name, reply_shape::found_count);
  if (name == "incr" || name == "incrby" || name == "decr" || name == "decrby")
    return plan_incr(args, spaces, name);
  if (name == "del") {
    if (args.size() < 2)
      return arity_error(name);
    command_plan p;
    p.kind = plan_kind::write;
    p.shape = reply_shape::sum_numbers;
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (auto e = check_key(args[i], spaces); !e.empty())
        return error_plan(e);
      key_write w;
      w.kind = op_kind::del;
      w.key = std::move(args[i]);
      p.request.writes.push_back(std::move(w));
    }
    if (mixes_modes(p.request, spaces))
      return mixed_modes_error(name);
    return p;
  }
  if (name == "mset") {
    if (args.size() < 3 || args.size() % 2 == 0)
      return arity_error(name);
    command_plan p;
    p.kind = plan_kind::write;
    p.shape = reply_shape::ok;
    for (std::size_t i = 1; i < args.size(); i += 2) {
      if (auto e = check_key(args[i], spaces); !e.empty())
        return error_plan(e);
      if (auto e = check_value(args[i], args[i + 1], spaces, limits); !e.empty())
        return error_plan(e);
      key_write w;
      w.kind = op_kind::set;
      w.key = std::move(args[i]);
      w.value = std::move(args[i + 1]);
      p.request.writes.push_back(std::move(w));
    }
    if (mixes_modes(p.request, spaces))
      return mixed_modes_error(name);
    return p;
  }
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
  if (name == "hello")
    return error_plan("NOPROTO wtcached speaks RESP2 only; continue without HELLO");
  if (name == "command")
    return plan_command_command(args);
  if (name == "client")
    return plan_client(args);
  if (name == "config") {
    // wtcached has no Redis-style runtime parameters; tools such as
    // redis-benchmark ask for some at start and accept an empty answer.
    if (args.size() >= 3 && upper(args[1]) == "GET") {
      resp::array_header(p.reply, 0);
      return p;
    }
    return error_plan("ERR CONFIG " + (args.size() > 1 ? args[1] : std::string()) +
                      " is not supported by wtcached; see config/wtcache.toml");
  }
  if (name == "info") {
    if (args.size() > 2)
      return error_plan("ERR syntax error");
    p.kind = plan_kind::info;
    p.info_section = args.size() == 2 ? lower(args[1]) : std::string();
    return p;
  }
  std::string msg = "ERR unknown command '" + args[0] + "', with args beginning with: ";
  for (std::size_t i = 1; i < args.size() && msg.size() < 256; ++i)
    msg += "'" + args[i].substr(0, 64) + "' ";
  return error_plan(msg);
}

}  // namespace wtcache
