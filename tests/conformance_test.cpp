// Differential conformance: the same command sequences against a private
// real redis-server (the reference: Redis 7.0 is the specification) and
// against wtcached, compared reply by reply: types, values, error texts.
// TTL figures are compared with a tolerance. Keys are the default
// namespace's (bytea, expiry = "value"), one set per case.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "core/commands.hpp"
#include "tests/support/service_fixture.hpp"

namespace wtcache::test {

namespace {

using commands = std::vector<std::vector<std::string>>;

struct conformance_case {
  const char* name;
  commands steps;
};

// How far apart two figures of a command's reply may be: a time in
// seconds by one, in milliseconds by 1.5 s (the two servers answer at
// different moments); anything else not at all.
long long tolerance(const std::string& command) {
  std::string c;
  for (char ch : command)
    c += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (c == "ttl" || c == "expiretime")
    return 1;
  if (c == "pttl" || c == "pexpiretime")
    return 1500;
  return 0;
}


// "$a" in an argument becomes this case's key a, in namespace `space`. On a
// Redis Cluster (WTCACHE_TEST_REDIS=cluster) a case's keys share a hash tag
// (its scope), so that a write-behind command of several keys is in one
// slot, as it must be there (to the reference the braces are letters); on
// one Redis they do not, so such a command spans groups.
std::vector<std::string> with_keys(std::vector<std::string> args, const std::string& scope,
                                   const std::string& space = "conf:") {
  auto tagged = servers::get().on_cluster() ? "{" + scope + "}" : scope;
  for (auto& a : args)
    if (a.size() > 1 && a[0] == '$')
      a = space + tagged + ":" + a.substr(1);
  return args;
}

// Whether a case looks at or sets an expiry (in a namespace with expiry =
// "cache" a TTL bounds only the cache copy).
bool touches_expiry(const conformance_case& c) {
  static const std::set<std::string> words = {
    "ttl",     "pttl",      "expiretime", "pexpiretime", "expire", "pexpire", "expireat",
    "pexpireat", "persist", "setex",      "psetex",      "getex",  "ex",      "px",
    "exat",    "pxat",      "keepttl"};
  for (auto& step : c.steps)
    for (auto& a : step) {
      std::string w;
      for (char ch : a)
        w += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (words.count(w))
        return true;
    }
  return false;
}


}  // namespace

class Conformance : public Service {
protected:
  static void SetUpTestSuite() {
    Service::SetUpTestSuite();
    reference_ = std::make_unique<embedded_redis>();
    reference_->start(servers::get().dir + "/reference");
    // A second node whose "confwb:" keys are write-behind with expiry =
    // "cache", and "confwbx:" keys write-behind with expiry = "value".
    sql("CREATE TABLE IF NOT EXISTS conf_wb (id text PRIMARY KEY, doc bytea NOT NULL, "
        "version bigint NOT NULL DEFAULT 0)");
    sql("CREATE TABLE IF NOT EXISTS conf_wbx (id text PRIMARY KEY, doc bytea NOT NULL, "
        "version bigint NOT NULL DEFAULT 0, expires_at timestamptz)");
    behind_ = start_service(test_config(R"(
[[namespace]]
prefix = "confwb:"
table = "conf_wb"
key_column = "id"
value_column = "doc"
value_type = "bytea"
mode = "write-behind"
flush_interval_ms = 20

[[namespace]]
prefix = "confwbx:"
table = "conf_wbx"
key_column = "id"
value_column = "doc"
value_type = "bytea"
mode = "write-behind"
expiry = "value"
flush_interval_ms = 20
)"));
  }

  static void TearDownTestSuite() {
    std::cout << "conformance: " << compared_ << " replies compared, " << alike_
              << " answered as Redis 7.0 does\n"
              << "differs on purpose (see the README's command table):\n"
              << "  KEYS and SCAN list keys by namespace, then by key; SCAN cursors are our own\n"
              << "  FLUSHDB/FLUSHALL are refused unless [server] allow_flush = true\n"
              << "  values longer than max_value_bytes are refused (Redis: 512 MB)\n";
    behind_->stop();
    behind_.reset();
    reference_->stop();
    reference_.reset();
    Service::TearDownTestSuite();
  }

  // Runs every case on both and expects each reply alike (on the service
  // at `port`, 0: the suite's, with keys in namespace `space`).
  void run_cases(const std::vector<conformance_case>& cases, int port = 0,
                 const std::string& space = "conf:") {
    resp_client want(reference_->port()), got(port ? port : port_);
    for (auto& c : cases) {
      auto scope = std::string(c.name) + std::to_string(++counter_);
      for (auto& step : c.steps) {
        auto args = with_keys(step, scope, space);
        auto r = want.cmd(args), g = got.cmd(args);
        ++compared_;
        bool same = alike(r, g, tolerance(args[0]));
        alike_ += same ? 1 : 0;
        EXPECT_TRUE(same) << c.name << ": " << shown(step) << "\n  redis:    " << r
                          << "\n  wtcached: " << g;
      }
    }
  }

  // The same, each case sent as one pipeline (all its commands before any
  // reply is read), as client libraries send MULTI ... EXEC.
  void run_pipelined(const std::vector<conformance_case>& cases, int port = 0,
                     const std::string& space = "conf:") {
    resp_client want(reference_->port()), got(port ? port : port_);
    for (auto& c : cases) {
      auto scope = std::string(c.name) + std::to_string(++counter_);
      for (auto& step : c.steps) {
        want.append(with_keys(step, scope, space));
        got.append(with_keys(step, scope, space));
      }
      want.flush();
      got.flush();
      for (auto& step : c.steps) {
        auto r = want.read(), g = got.read();
        ++compared_;
        bool same = alike(r, g, tolerance(step[0]));
        alike_ += same ? 1 : 0;
        EXPECT_TRUE(same) << c.name << " (pipelined): " << shown(step) << "\n  redis:    " << r
                          << "\n  wtcached: " << g;
      }
    }
  }

  static inline std::unique_ptr<embedded_redis> reference_;
  static inline std::unique_ptr<service> behind_;
  static inline int compared_ = 0, alike_ = 0;
};

std::vector<conformance_case> set_cases() {
  return {
    {"plain", {{"SET", "$a", "v"}, {"GET", "$a"}, {"SET", "$a", ""}, {"GET", "$a"}}},
    {"nx", {{"SET", "$a", "1", "NX"}, {"SET", "$a", "2", "NX"}, {"GET", "$a"}}},
    {"xx", {{"SET", "$a", "1", "XX"}, {"GET", "$a"}, {"SET", "$a", "1"}, {"SET", "$a", "2", "xx"},
            {"GET", "$a"}}},
    {"nx_xx", {{"SET", "$a", "1", "NX", "XX"}, {"SET", "$a", "1", "XX", "NX"}, {"EXISTS", "$a"}}},
    {"get", {{"SET", "$a", "1", "GET"}, {"SET", "$a", "2", "GET"}, {"GET", "$a"}}},
    {"nx_get", {{"SET", "$a", "1"}, {"SET", "$a", "2", "NX", "GET"}, {"GET", "$a"},
                {"SET", "$b", "3", "GET", "NX"}, {"GET", "$b"}}},
    {"xx_get", {{"SET", "$a", "2", "XX", "GET"}, {"EXISTS", "$a"}}},
    {"ex", {{"SET", "$a", "v", "EX", "100"}, {"TTL", "$a"}, {"PTTL", "$a"}}},
    {"px_lower", {{"set", "$a", "v", "px", "100000", "nx"}, {"TTL", "$a"}}},
    {"exat", {{"SET", "$a", "v", "EXAT", "4102444800"}, {"EXPIRETIME", "$a"},
              {"PEXPIRETIME", "$a"}}},
    {"pxat_past", {{"SET", "$a", "v", "PXAT", "1"}, {"GET", "$a"}, {"EXISTS", "$a"}}},
    {"keepttl", {{"SET", "$a", "v", "EX", "100"}, {"SET", "$a", "w", "KEEPTTL"}, {"TTL", "$a"},
                 {"GET", "$a"}, {"SET", "$a", "x"}, {"TTL", "$a"}}},
    {"bad_expiry", {{"SET", "$a", "v", "EX", "0"}, {"SET", "$a", "v", "PX", "-5"},
                    {"SET", "$a", "v", "EX", "x"}, {"SET", "$a", "v", "EX"},
                    {"SET", "$a", "v", "EX", "10", "PX", "10"}, {"SET", "$a", "v", "KEEPTTL", "EX", "10"},
                    {"SET", "$a", "v", "EX", "10", "KEEPTTL"}, {"SET", "$a", "v", "EX", "9223372036854775807"},
                    {"EXISTS", "$a"}}},
    {"repeated", {{"SET", "$a", "v", "EX", "10", "EX", "100"}, {"TTL", "$a"},
                  {"SET", "$a", "v", "NX", "NX"}}},
    {"syntax", {{"SET", "$a", "v", "FOO"}, {"SET", "$a"}, {"SET"}, {"EXISTS", "$a"}}},
    {"binary", {{"SET", "$a", std::string("a\0b\r\n", 5)}, {"GET", "$a"}, {"STRLEN", "$a"}}},
  };
}

TEST_F(Conformance, SetAndItsOptions) { run_cases(set_cases()); }

std::vector<conformance_case> set_relative_cases() {
  return {
    {"setex", {{"SETEX", "$a", "100", "v"}, {"TTL", "$a"}, {"GET", "$a"},
               {"SETEX", "$a", "0", "v"}, {"SETEX", "$a", "-1", "v"}, {"SETEX", "$a", "x", "v"},
               {"SETEX", "$a", "10"}}},
    {"psetex", {{"PSETEX", "$a", "100000", "v"}, {"PTTL", "$a"}, {"PSETEX", "$a", "0", "v"}}},
    {"setnx", {{"SETNX", "$a", "1"}, {"SETNX", "$a", "2"}, {"GET", "$a"}, {"SETNX", "$a"}}},
    {"getset", {{"GETSET", "$a", "1"}, {"GETSET", "$a", "2"}, {"GET", "$a"},
                {"SET", "$b", "x", "EX", "100"}, {"GETSET", "$b", "y"}, {"TTL", "$b"}}},
    {"getdel", {{"GETDEL", "$a"}, {"SET", "$a", "1"}, {"GETDEL", "$a"}, {"GET", "$a"},
                {"GETDEL", "$a", "$b"}}},
    {"getex", {{"GETEX", "$a"}, {"SET", "$a", "v"}, {"GETEX", "$a"}, {"GETEX", "$a", "EX", "100"},
               {"TTL", "$a"}, {"GETEX", "$a", "PERSIST"}, {"TTL", "$a"},
               {"GETEX", "$a", "PXAT", "4102444800000"}, {"PEXPIRETIME", "$a"},
               {"GETEX", "$a", "EX", "0"}, {"GETEX", "$a", "EX", "10", "PX", "10"},
               {"GETEX", "$a", "PERSIST", "EX", "10"}, {"GETEX", "$a", "FOO"},
               {"GETEX", "$a", "EXAT", "1"}, {"EXISTS", "$a"}}},
    {"msetnx", {{"MSETNX", "$a", "1", "$b", "2"}, {"MGET", "$a", "$b"},
                {"MSETNX", "$b", "3", "$c", "4"}, {"MGET", "$b", "$c"}, {"MSETNX", "$a"},
                {"MSETNX", "$a", "1", "$b"}, {"MSETNX", "$d", "1", "$d", "2"}, {"GET", "$d"}}},
    {"mset", {{"MSET", "$a", "1", "$b", "2"}, {"MGET", "$a", "$b", "$c"}, {"MSET", "$a"}}},
  };
}

TEST_F(Conformance, SetRelatives) { run_cases(set_relative_cases()); }

std::vector<conformance_case> append_cases() {
  return {
    {"append", {{"APPEND", "$a", "ab"}, {"APPEND", "$a", "cd"}, {"GET", "$a"}, {"STRLEN", "$a"},
                {"APPEND", "$b", ""}, {"EXISTS", "$b"}, {"GET", "$b"}, {"APPEND", "$a"}}},
    {"append_keeps_ttl", {{"SET", "$a", "x", "EX", "100"}, {"APPEND", "$a", "y"}, {"TTL", "$a"}}},
    {"strlen", {{"STRLEN", "$a"}, {"SET", "$a", "hello"}, {"STRLEN", "$a"}, {"STRLEN"}}},
    {"getrange", {{"SET", "$a", "This is a string"}, {"GETRANGE", "$a", "0", "3"},
                  {"GETRANGE", "$a", "-3", "-1"}, {"GETRANGE", "$a", "0", "-1"},
                  {"GETRANGE", "$a", "10", "100"}, {"GETRANGE", "$a", "5", "3"},
                  {"GETRANGE", "$a", "-1", "-5"}, {"GETRANGE", "$a", "-100", "2"},
                  {"GETRANGE", "$b", "0", "1"}, {"GETRANGE", "$a", "x", "1"},
                  {"GETRANGE", "$a", "0"}, {"SUBSTR", "$a", "1", "2"}}},
    {"setrange", {{"SETRANGE", "$a", "5", "XY"}, {"GET", "$a"}, {"SET", "$b", "Hello World"},
                  {"SETRANGE", "$b", "6", "Redis"}, {"GET", "$b"}, {"SETRANGE", "$b", "0", ""},
                  {"SETRANGE", "$c", "3", ""}, {"EXISTS", "$c"}, {"SETRANGE", "$b", "-1", "x"},
                  {"SETRANGE", "$b", "x", "x"}, {"SETRANGE", "$b", "1"},
                  {"SETRANGE", "$b", "1000000000", "x"}}},
  };
}

TEST_F(Conformance, AppendLengthAndRanges) { run_cases(append_cases()); }

std::vector<conformance_case> counter_cases() {
  return {
    {"incr", {{"INCR", "$a"}, {"INCRBY", "$a", "10"}, {"DECR", "$a"}, {"DECRBY", "$a", "3"},
              {"GET", "$a"}, {"INCRBY", "$a", "x"}, {"INCR", "$a", "1"}}},
    {"incr_not_int", {{"SET", "$a", "1.5"}, {"INCR", "$a"}, {"SET", "$a", " 1"}, {"INCR", "$a"},
                      {"SET", "$a", "abc"}, {"DECR", "$a"}}},
    {"incr_overflow", {{"SET", "$a", "9223372036854775807"}, {"INCR", "$a"},
                       {"DECRBY", "$a", "-9223372036854775808"}}},
    {"incr_keeps_ttl", {{"SET", "$a", "1", "EX", "100"}, {"INCR", "$a"}, {"TTL", "$a"}}},
    {"incrbyfloat", {{"INCRBYFLOAT", "$a", "10.5"}, {"INCRBYFLOAT", "$a", "0.1"},
                     {"INCRBYFLOAT", "$a", "-5"}, {"INCRBYFLOAT", "$a", "5.0e3"},
                     {"INCRBYFLOAT", "$a", "2.0e-2"}, {"GET", "$a"}, {"INCRBYFLOAT", "$a", "x"},
                     {"INCRBYFLOAT", "$a", "inf"}, {"INCRBYFLOAT", "$a", " 1"},
                     {"INCRBYFLOAT", "$a"}, {"SET", "$b", "abc"}, {"INCRBYFLOAT", "$b", "1"},
                     {"SET", "$c", "3"}, {"INCRBYFLOAT", "$c", "-3"}, {"GET", "$c"}}},
  };
}

TEST_F(Conformance, Counters) { run_cases(counter_cases()); }

std::vector<conformance_case> expiry_cases() {
  return {
    {"expire", {{"EXPIRE", "$a", "100"}, {"SET", "$a", "v"}, {"TTL", "$a"}, {"EXPIRE", "$a", "100"},
                {"TTL", "$a"}, {"PEXPIRE", "$a", "200000"}, {"PTTL", "$a"}, {"EXPIREAT", "$a", "4102444800"},
                {"EXPIRETIME", "$a"}, {"PEXPIREAT", "$a", "4102444800123"}, {"PEXPIRETIME", "$a"}}},
    {"expire_past", {{"SET", "$a", "v"}, {"EXPIRE", "$a", "-1"}, {"EXISTS", "$a"},
                     {"SET", "$b", "v"}, {"EXPIREAT", "$b", "1"}, {"GET", "$b"},
                     {"SET", "$c", "v"}, {"PEXPIRE", "$c", "0"}, {"TTL", "$c"}}},
    {"flags", {{"SET", "$a", "v"}, {"EXPIRE", "$a", "100", "XX"}, {"EXPIRE", "$a", "100", "GT"},
               {"EXPIRE", "$a", "100", "LT"}, {"EXPIRE", "$a", "200", "NX"}, {"TTL", "$a"},
               {"EXPIRE", "$a", "50", "gt"}, {"EXPIRE", "$a", "300", "GT"}, {"TTL", "$a"},
               {"EXPIRE", "$a", "400", "LT"}, {"EXPIRE", "$a", "50", "lt"}, {"TTL", "$a"},
               {"EXPIRE", "$a", "60", "XX", "LT"}, {"TTL", "$a"}, {"EXPIRE", "$a", "70", "NX"}}},
    {"flag_errors", {{"SET", "$a", "v"}, {"EXPIRE", "$a", "10", "NX", "XX"},
                     {"EXPIRE", "$a", "10", "GT", "LT"}, {"EXPIRE", "$a", "10", "FOO"},
                     {"EXPIRE", "$a", "x"}, {"EXPIRE", "$a"}, {"EXPIRE", "$a", "9223372036854775807"},
                     {"PEXPIRE", "$a", "9223372036854775807"}, {"TTL", "$a"}}},
    {"persist", {{"PERSIST", "$a"}, {"SET", "$a", "v"}, {"PERSIST", "$a"}, {"EXPIRE", "$a", "100"},
                 {"PERSIST", "$a"}, {"TTL", "$a"}, {"PERSIST", "$a", "$b"}}},
    {"ttl_absent", {{"TTL", "$a"}, {"PTTL", "$a"}, {"EXPIRETIME", "$a"}, {"PEXPIRETIME", "$a"},
                    {"SET", "$a", "v"}, {"TTL", "$a"}, {"PTTL", "$a"}, {"EXPIRETIME", "$a"},
                    {"TTL"}, {"TTL", "$a", "$b"}}},
  };
}

TEST_F(Conformance, Expiry) { run_cases(expiry_cases()); }

std::vector<conformance_case> key_cases() {
  return {
    {"del", {{"SET", "$a", "1"}, {"SET", "$b", "2"}, {"DEL", "$a", "$b", "$c"}, {"DEL", "$a"},
             {"DEL"}}},
    {"unlink", {{"SET", "$a", "1"}, {"UNLINK", "$a", "$c"}, {"EXISTS", "$a"}, {"UNLINK"}}},
    {"exists", {{"SET", "$a", "1"}, {"EXISTS", "$a", "$a", "$b"}, {"EXISTS"}}},
    {"touch", {{"SET", "$a", "1"}, {"TOUCH", "$a", "$b", "$a"}, {"TOUCH"}}},
    {"type", {{"TYPE", "$a"}, {"SET", "$a", "1"}, {"TYPE", "$a"}, {"TYPE"}, {"TYPE", "$a", "$b"}}},
  };
}

TEST_F(Conformance, Keys) { run_cases(key_cases()); }

std::vector<conformance_case> transaction_cases() {
  return {
    {"multi", {{"MULTI"}, {"SET", "$a", "1"}, {"INCR", "$a"}, {"GET", "$a"}, {"MGET", "$a", "$b"},
               {"EXEC"}, {"GET", "$a"}}},
    {"across_keys", {{"MULTI"}, {"SET", "$a", "1"}, {"SET", "$b", "2"}, {"SET", "$c", "3"},
                     {"DEL", "$a", "$b"}, {"EXISTS", "$a", "$b", "$c"}, {"EXEC"}}},
    {"execabort", {{"MULTI"}, {"SET", "$a"}, {"GET", "$a"}, {"EXEC"}, {"EXISTS", "$a"},
                   {"MULTI"}, {"NOSUCHCOMMAND"}, {"EXEC"}}},
    {"runtime_error", {{"SET", "$a", "x"}, {"MULTI"}, {"INCR", "$a"}, {"SET", "$b", "1"},
                       {"SET", "$c", "v", "FOO"}, {"EXEC"}, {"GET", "$b"}}},
    {"discard", {{"MULTI"}, {"SET", "$a", "1"}, {"DISCARD"}, {"GET", "$a"}, {"EXEC"},
                 {"DISCARD"}}},
    {"nested", {{"MULTI"}, {"MULTI"}, {"EXEC"}, {"MULTI", "x"}}},
    {"watch_changed", {{"WATCH", "$a"}, {"SET", "$a", "1"}, {"MULTI"}, {"GET", "$a"}, {"EXEC"}}},
    {"watch_unchanged", {{"SET", "$a", "0"}, {"WATCH", "$a", "$b"}, {"MULTI"}, {"SET", "$a", "2"},
                         {"EXEC"}, {"GET", "$a"}}},
    {"unwatch", {{"WATCH", "$a"}, {"SET", "$a", "1"}, {"UNWATCH"}, {"MULTI"}, {"GET", "$a"},
                 {"EXEC"}, {"WATCH"}}},
    {"watch_in_multi", {{"MULTI"}, {"WATCH", "$a"}, {"SET", "$a", "1"}, {"EXEC"}}},
    {"exec_clears_watch", {{"WATCH", "$a"}, {"MULTI"}, {"EXEC"}, {"SET", "$a", "1"}, {"MULTI"},
                           {"GET", "$a"}, {"EXEC"}}},
    {"ttl_inside", {{"MULTI"}, {"SET", "$a", "v", "EX", "100"}, {"TTL", "$a"}, {"PERSIST", "$a"},
                    {"TTL", "$a"}, {"STRLEN", "$a"}, {"EXEC"}}},
    {"replies_inside", {{"MULTI"}, {"PING"}, {"ECHO", "hi"}, {"CLIENT", "SETNAME", "in-multi"},
                        {"EXEC"}, {"CLIENT", "GETNAME"}}},
    {"getset_inside", {{"MULTI"}, {"SET", "$a", "1", "NX"}, {"SET", "$a", "2", "NX"},
                       {"GETSET", "$a", "3"}, {"APPEND", "$a", "4"}, {"GETDEL", "$a"}, {"EXEC"}}},
    {"reset", {{"MULTI"}, {"SET", "$a", "1"}, {"RESET"}, {"EXEC"}, {"GET", "$a"}}},
  };
}

TEST_F(Conformance, Transactions) { run_cases(transaction_cases()); }

TEST_F(Conformance, ConnectionCommands) {
  run_cases({
    {"names", {{"CLIENT", "GETNAME"}, {"CLIENT", "SETNAME", "app-1"}, {"CLIENT", "GETNAME"},
               {"CLIENT", "SETNAME", "a b"}, {"CLIENT", "SETNAME", ""}, {"CLIENT", "GETNAME"},
               {"CLIENT", "SETNAME"}, {"CLIENT", "FOO"}, {"CLIENT"}, {"CLIENT", "NO-EVICT", "on"},
               {"CLIENT", "NO-EVICT", "maybe"}, {"CLIENT", "ID", "x"}}},
    {"hello", {{"HELLO", "x"}, {"HELLO", "4"}, {"HELLO", "2", "FOO"}, {"HELLO", "2", "AUTH", "x"},
               {"HELLO", "2", "AUTH", "nobody", "pw"}, {"HELLO", "2", "SETNAME", "a b"}}},
    {"auth", {{"AUTH", "secret"}, {"AUTH", "default", "anything"}, {"AUTH", "nobody", "pw"},
              {"AUTH"}}},
    {"misc", {{"PING"}, {"PING", "hi"}, {"ECHO", "x"}, {"ECHO"}, {"WAIT", "0", "0"},
              {"WAIT", "x", "0"}, {"WAIT", "0", "-1"}, {"TIME", "x"}, {"SELECT", "0"},
              {"SELECT", "x"}, {"CONFIG", "GET", "maxmemory"}, {"CONFIG", "GET", "timeout"},
              {"CONFIG", "GET"}, {"RESET"}}},
  });
  // Replies with figures of their own: the shape.
  resp_client c(port_);
  auto t = c.cmd({"TIME"});
  ASSERT_EQ(t.elements.size(), 2u);
  EXPECT_GT(std::stoll(t.elements[0].str), 1'700'000'000);
  auto hello = c.cmd({"HELLO", "2", "SETNAME", "h"});
  ASSERT_EQ(hello.elements.size(), 14u) << hello;
  EXPECT_EQ(hello.elements[4].str, "proto");
  EXPECT_EQ(hello.elements[5].number, 2);
  EXPECT_EQ(hello.elements[7].number, c.cmd({"CLIENT", "ID"}).number);
  EXPECT_EQ(c.cmd({"CLIENT", "GETNAME"}).str, "h");
  auto list = c.cmd({"CLIENT", "LIST"}).str;
  EXPECT_NE(list.find("name=h "), std::string::npos) << list;
  EXPECT_NE(c.cmd({"CLIENT", "INFO"}).str.find("cmd=client|info"), std::string::npos);
  EXPECT_EQ(c.cmd({"HELLO", "3"}).str, "NOPROTO unsupported protocol version");
  auto info = c.cmd({"COMMAND", "INFO", "get", "nosuch"});
  ASSERT_EQ(info.elements.size(), 2u);
  EXPECT_EQ(info.elements[0].elements[0].str, "get");
  EXPECT_EQ(info.elements[0].elements[1].number, 2);
  EXPECT_TRUE(info.elements[1].is_nil());
  EXPECT_EQ(c.cmd({"COMMAND", "COUNT"}).number, static_cast<long long>(supported_commands().size()));
  // CLIENT KILL of another client closes it.
  resp_client victim(port_);
  auto victim_id = victim.cmd({"CLIENT", "ID"}).number;
  EXPECT_EQ(c.cmd({"CLIENT", "KILL", "ID", std::to_string(victim_id)}).number, 1);
  EXPECT_TRUE(eventually([&] {
    try {
      return victim.cmd({"PING"}).kind != reply::status;
    } catch (const std::exception&) {
      return true;  // closed
    }
  }));
}

// Pipelined, the watches EXEC checks are those of every WATCH before it,
// whenever their reads come back; UNWATCH inside MULTI is queued; and the
// commands of one key apply in their order.
std::vector<conformance_case> pipelined_cases() {
  return {
    {"watch_then_change", {{"WATCH", "$a"}, {"SET", "$a", "1"}, {"MULTI"}, {"GET", "$a"}, {"EXEC"}}},
    {"unwatch_queued", {{"WATCH", "$a"}, {"SET", "$a", "1"}, {"MULTI"}, {"UNWATCH"}, {"GET", "$a"},
                        {"EXEC"}, {"GET", "$a"}}},
    {"unwatch_first", {{"WATCH", "$a"}, {"UNWATCH"}, {"SET", "$a", "1"}, {"MULTI"}, {"GET", "$a"},
                       {"EXEC"}}},
    {"discard_unwatches", {{"WATCH", "$a"}, {"MULTI"}, {"DISCARD"}, {"SET", "$a", "2"}, {"MULTI"},
                           {"GET", "$a"}, {"EXEC"}}},
    {"exec_then_watch", {{"MULTI"}, {"SET", "$a", "1"}, {"EXEC"}, {"WATCH", "$a"}, {"MULTI"},
                         {"INCR", "$a"}, {"EXEC"}, {"GET", "$a"}}},
    {"plain", {{"SET", "$a", "1"}, {"INCR", "$a"}, {"GET", "$a"}, {"MULTI"}, {"INCR", "$a"},
               {"GET", "$a"}, {"EXEC"}, {"GET", "$a"}}},
    // Per-key order: a command decided from the value (APPEND, SET GET...)
    // between plain writes of the key sees the one before it, never after.
    {"decided_between", {{"SET", "$a", "1"}, {"APPEND", "$a", "2"}, {"SET", "$a", "3", "GET"},
                         {"INCR", "$a"}, {"SET", "$a", "x", "NX"}, {"GETSET", "$a", "5"},
                         {"APPEND", "$a", "6"}, {"DEL", "$a"}, {"SETNX", "$a", "7"},
                         {"GETDEL", "$a"}, {"GET", "$a"}}},
  };
}

TEST_F(Conformance, PipelinedTransactions) {
  run_pipelined(pipelined_cases());
  run_cases(pipelined_cases());
}

// Write-behind keys answer alike too: the shard decides SET's conditions,
// APPEND, GETDEL... from the newest value (in Redis, else the row) and
// queues the outcome; EXEC is one call of the enqueue script, its commands
// decided in turn. Cases that look at or set an expiry are left out: this
// namespace has expiry = "cache".
TEST_F(Conformance, WriteBehindKeysAnswerAlike) {
  std::vector<conformance_case> cases;
  for (auto list : {set_cases(), set_relative_cases(), append_cases(), counter_cases(), key_cases(),
                    transaction_cases(), pipelined_cases()})
    for (auto& c : list)
      if (!touches_expiry(c))
        cases.push_back(c);
  ASSERT_GE(cases.size(), 20u);
  run_cases(cases, behind_->port(), "confwb:");
  run_pipelined(pipelined_cases(), behind_->port(), "confwb:");
}

// With expiry = "value", write-behind keys answer every case alike, those
// with expiries too: the entry carries a queued value's expiry, the writer
// stores it in the row, and the TTL family reads the newest of the two.
TEST_F(Conformance, WriteBehindKeysWithValueExpiryAnswerAlike) {
  std::vector<conformance_case> cases;
  for (auto list : {set_cases(), set_relative_cases(), append_cases(), counter_cases(),
                    expiry_cases(), key_cases(), transaction_cases(), pipelined_cases()})
    cases.insert(cases.end(), list.begin(), list.end());
  run_cases(cases, behind_->port(), "confwbx:");
  run_pipelined(pipelined_cases(), behind_->port(), "confwbx:");
}

// KEYS and SCAN return keys in another order than Redis (by namespace,
// then by key) and SCAN's cursors are our own: the sets of keys compare.
TEST_F(Conformance, KeysAndScanFindTheSameKeys) {
  resp_client want(reference_->port()), got(port_);
  auto scope = "conf:scan" + std::to_string(++counter_) + ":";
  auto size_before = got.cmd({"DBSIZE"}).number;
  for (int i = 0; i < 30; ++i) {
    auto k = scope + (i % 3 == 0 ? "odd" : "k") + std::to_string(i);
    ASSERT_EQ(want.cmd({"SET", k, "v"}).str, "OK");
    ASSERT_EQ(got.cmd({"SET", k, "v"}).str, "OK");
  }
  // An expired key is in neither.
  want.cmd({"SET", scope + "gone", "v", "PXAT", "1"});
  got.cmd({"SET", scope + "gone", "v", "PXAT", "1"});
  // (A key of an earlier case with a TTL may expire meanwhile.)
  auto size_after = got.cmd({"DBSIZE"}).number;
  EXPECT_LE(size_after, size_before + 30);
  EXPECT_GE(size_after, size_before + 29);
  auto sorted = [](const reply& r) {
    std::vector<std::string> keys;
    for (auto& e : r.elements)
      keys.push_back(e.str);
    std::sort(keys.begin(), keys.end());
    return keys;
  };
  for (auto pattern : {scope + "*", scope + "odd*", scope + "k?", scope + "k[12]*", scope + "none*"}) {
    EXPECT_EQ(sorted(want.cmd({"KEYS", pattern})), sorted(got.cmd({"KEYS", pattern}))) << pattern;
    // A whole SCAN with a small COUNT: the same set, duplicates aside.
    auto scan_all = [&](resp_client& c) {
      std::set<std::string> keys;
      std::string cursor = "0";
      int pages = 0;
      do {
        auto r = c.cmd({"SCAN", cursor, "MATCH", pattern, "COUNT", "7"});
        EXPECT_EQ(r.elements.size(), 2u) << r;
        if (r.elements.size() != 2)
          break;
        cursor = r.elements[0].str;
        for (auto& e : r.elements[1].elements)
          keys.insert(e.str);
      } while (cursor != "0" && ++pages < 100000);
      return keys;
    };
    EXPECT_EQ(scan_all(want), scan_all(got)) << pattern;
  }
  for (std::vector<std::string> bad :
       {std::vector<std::string>{"SCAN", "x"}, {"SCAN", "0", "COUNT", "0"},
        {"SCAN", "0", "COUNT", "x"}, {"SCAN", "0", "MATCH"}, {"SCAN", "0", "FOO", "1"}, {"SCAN"},
        {"KEYS"}, {"DBSIZE", "x"}}) {
    auto r = want.cmd(bad), g = got.cmd(bad);
    EXPECT_TRUE(alike(r, g)) << shown(bad) << "\n  redis:    " << r << "\n  wtcached: " << g;
  }
  // Another type than string: nothing, at once.
  auto t = got.cmd({"SCAN", "0", "TYPE", "hash"});
  ASSERT_EQ(t.elements.size(), 2u);
  EXPECT_EQ(t.elements[0].str, "0");
  EXPECT_TRUE(t.elements[1].elements.empty());
}

}  // namespace wtcache::test
