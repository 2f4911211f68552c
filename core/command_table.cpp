// The command table: one row per command wtcached answers.
#include "core/command_table.hpp"

#include <algorithm>
#include <cstring>

namespace wtcache {

const std::vector<command_info>& command_table() {
  using f = std::vector<const char*>;
  static const f write{"write", "denyoom"}, write_fast{"write", "denyoom", "fast"},
    rd{"readonly"}, rd_fast{"readonly", "fast"}, del{"write"}, plain{"fast"},
    loading{"loading", "stale", "fast"}, noscript{"noscript", "loading", "stale", "fast"};
  static const std::vector<command_info> table = {
    {"get", 2, rd_fast, 1, 1, 1, "string", "1.0.0", "Returns the string value of a key."},
    {"set", -3, write, 1, 1, 1, "string", "1.0.0",
     "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."},
    {"mget", -2, rd_fast, 1, -1, 1, "string", "1.0.0", "Atomically returns the string values of one or more keys."},
    {"mset", -3, write, 1, -1, 2, "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys."},
    {"msetnx", -3, write, 1, -1, 2, "string", "1.0.1",
     "Atomically modifies the string values of one or more keys only when all keys don't exist."},
    {"setex", 4, write, 1, 1, 1, "string", "2.0.0", "Sets the string value and expiration time of a key."},
    {"psetex", 4, write, 1, 1, 1, "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key."},
    {"setnx", 3, write_fast, 1, 1, 1, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist."},
    {"getset", 3, write_fast, 1, 1, 1, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value."},
    {"getdel", 2, write_fast, 1, 1, 1, "string", "6.2.0", "Returns the string value of a key after deleting the key."},
    {"getex", -2, write_fast, 1, 1, 1, "string", "6.2.0", "Returns the string value of a key after setting its expiration time."},
    {"append", 3, write_fast, 1, 1, 1, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist."},
    {"strlen", 2, rd_fast, 1, 1, 1, "string", "2.2.0", "Returns the length of a string value."},
    {"getrange", 4, rd, 1, 1, 1, "string", "2.4.0", "Returns a substring of the string stored at a key."},
    {"substr", 4, rd, 1, 1, 1, "string", "1.0.0", "Returns a substring from a string value."},
    {"setrange", 4, write, 1, 1, 1, "string", "2.2.0",
     "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."},
    {"incr", 2, write_fast, 1, 1, 1, "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."},
    {"incrby", 3, write_fast, 1, 1, 1, "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."},
    {"decr", 2, write_fast, 1, 1, 1, "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."},
    {"decrby", 3, write_fast, 1, 1, 1, "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."},
    {"incrbyfloat", 3, write_fast, 1, 1, 1, "string", "2.6.0",
     "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."},
    {"del", -2, del, 1, -1, 1, "generic", "1.0.0", "Deletes one or more keys."},
    {"unlink", -2, {"write", "fast"}, 1, -1, 1, "generic", "4.0.0", "Asynchronously deletes one or more keys."},
    {"exists", -2, rd_fast, 1, -1, 1, "generic", "1.0.0", "Determines whether one or more keys exist."},
    {"touch", -2, rd_fast, 1, -1, 1, "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed."},
    {"type", 2, rd_fast, 1, 1, 1, "generic", "1.0.0", "Determines the type of value stored at a key."},
    {"expire", -3, {"write", "fast"}, 1, 1, 1, "generic", "1.0.0", "Sets the expiration time of a key in seconds."},
    {"pexpire", -3, {"write", "fast"}, 1, 1, 1, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds."},
    {"expireat", -3, {"write", "fast"}, 1, 1, 1, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp."},
    {"pexpireat", -3, {"write", "fast"}, 1, 1, 1, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp."},
    {"persist", 2, {"write", "fast"}, 1, 1, 1, "generic", "2.2.0", "Removes the expiration time of a key."},
    {"ttl", 2, rd_fast, 1, 1, 1, "generic", "1.0.0", "Returns the expiration time in seconds of a key."},
    {"pttl", 2, rd_fast, 1, 1, 1, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key."},
    {"expiretime", 2, rd_fast, 1, 1, 1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp."},
    {"pexpiretime", 2, rd_fast, 1, 1, 1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp."},
    {"scan", -2, rd, 0, 0, 0, "generic", "2.8.0", "Iterates over the key names in the database."},
    {"keys", 2, rd, 0, 0, 0, "generic", "1.0.0", "Returns all key names that match a pattern."},
    {"dbsize", 1, rd_fast, 0, 0, 0, "server", "1.0.0", "Returns the number of keys in the database."},
    {"flushdb", -1, {"write"}, 0, 0, 0, "server", "1.0.0", "Removes all keys from the current database."},
    {"flushall", -1, {"write"}, 0, 0, 0, "server", "1.0.0", "Removes all keys from all databases."},
    {"multi", 1, {"noscript", "loading", "stale", "fast", "allow_busy"}, 0, 0, 0, "transactions", "1.2.0", "Starts a transaction."},
    {"exec", 1, {"noscript", "loading", "stale", "skip_slowlog"}, 0, 0, 0, "transactions", "1.2.0", "Executes all commands in a transaction."},
    {"discard", 1, {"noscript", "loading", "stale", "fast", "allow_busy"}, 0, 0, 0, "transactions", "2.0.0", "Discards a transaction."},
    {"watch", -2, {"noscript", "loading", "stale", "fast", "allow_busy"}, 1, -1, 1, "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction."},
    {"unwatch", 1, {"noscript", "loading", "stale", "fast", "allow_busy"}, 0, 0, 0, "transactions", "2.2.0", "Forgets about watched keys of a transaction."},
    {"ping", -1, plain, 0, 0, 0, "connection", "1.0.0", "Returns the server's liveliness response."},
    {"echo", 2, plain, 0, 0, 0, "connection", "1.0.0", "Returns the given string."},
    {"quit", -1, {"allow_busy", "noscript", "loading", "stale", "fast", "no_auth"}, 0, 0, 0, "connection", "1.0.0", "Closes the connection."},
    {"reset", 1, {"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, 0, 0, 0, "connection", "6.2.0", "Resets the connection."},
    {"select", 2, loading, 0, 0, 0, "connection", "1.0.0", "Changes the selected database."},
    {"hello", -1, {"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, 0, 0, 0, "connection", "6.0.0", "Handshakes with the Redis server."},
    {"auth", -2, {"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, 0, 0, 0, "connection", "1.0.0", "Authenticates the connection."},
    {"client", -2, {}, 0, 0, 0, "connection", "2.4.0", "A container for client connection commands."},
    {"time", 1, {"loading", "stale", "fast"}, 0, 0, 0, "server", "2.6.0", "Returns the server time."},
    {"wait", 3, {"noscript"}, 0, 0, 0, "generic", "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed."},
    {"command", -1, {"loading", "stale"}, 0, 0, 0, "server", "2.8.13", "Returns detailed information about all commands."},
    {"config", -2, {}, 0, 0, 0, "server", "2.0.0", "A container for server configuration commands."},
    {"info", -1, {"loading", "stale"}, 0, 0, 0, "server", "1.0.0", "Returns information and statistics about the server."},
  };
  (void)noscript;
  return table;
}

const command_info* find_command(const std::string& lower_name) {
  const auto& t = command_table();
  auto it = std::find_if(t.begin(), t.end(),
                         [&](const command_info& c) { return lower_name == c.name; });
  return it == t.end() ? nullptr : &*it;
}

bool has_flag(const command_info& info, const char* flag) {
  return std::any_of(info.flags.begin(), info.flags.end(),
                     [&](const char* f) { return std::strcmp(f, flag) == 0; });
}

}  // namespace wtcache
