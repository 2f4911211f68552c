// The RESP surface: what the connection-level commands and INFO answer, and
// values that are bytes, not text.
#include <future>
#include <set>

#include <gtest/gtest.h>

#include "tests/support/http.hpp"
#include "tests/support/service_fixture.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;

TEST_F(Service, ValuesAreBinarySafe) {
  resp_client c(port_);
  auto k = key();
  std::string value("\0\x01\xff\r\n$-1\r\n", 11);
  value += std::string(1 << 20, 'x');  // and large
  // A megabyte may take PostgreSQL longer than the suite's 1 s timeout on a
  // loaded machine: that answer ("nothing was written") is tried again.
  auto until_in_time = [&](const std::vector<std::string>& args) {
    reply r;
    for (int i = 0; i < 5; ++i) {
      r = c.cmd(args);
      if (!r.is_error() || r.str.find("timeout") == std::string::npos)
        break;
    }
    return r;
  };
  ASSERT_EQ(until_in_time({"SET", k, value}).str, "OK");
  EXPECT_EQ(c.cmd({"GET", k}).str, value);
  resp_client redis(servers::get().redis_port());
  redis.cmd({"DEL", cache_key(k)});
  EXPECT_EQ(until_in_time({"GET", k}).str, value);
}

TEST_F(Service, ConnectionCommandsAnswerLikeRedis) {
  resp_client c(port_);
  EXPECT_EQ(c.cmd({"PING"}).str, "PONG");
  EXPECT_EQ(c.cmd({"ECHO", "hi"}).str, "hi");
  EXPECT_EQ(c.cmd({"SELECT", "0"}).str, "OK");
  EXPECT_EQ(c.cmd({"CLIENT", "SETNAME", "tester"}).str, "OK");
  EXPECT_TRUE(c.cmd({"HELLO", "3"}).is_error());
  EXPECT_EQ(c.cmd({"COMMAND", "DOCS"}).kind, reply::array);
  EXPECT_EQ(c.cmd({"NOSUCH", "a"}).str, "ERR unknown command 'NOSUCH', with args beginning with: 'a' ");
  EXPECT_EQ(c.cmd({"GET"}).str, "ERR wrong number of arguments for 'get' command");
  raw_socket s(port_);
  s.send("QUIT\r\nPING\r\n");
  EXPECT_EQ(s.receive(5), "+OK\r\n");
  EXPECT_TRUE(s.closed_by_peer());
}

// INFO's sections, and its figures moved by exactly what was done: one
// write, one lookup, three commands (the second INFO included).
TEST_F(Service, InfoReportsServerAndStats) {
  resp_client c(port_);
  auto k = key();
  auto before = c.cmd({"INFO"}).str;
  ASSERT_EQ(c.cmd({"SET", k, "v"}).str, "OK");
  ASSERT_EQ(c.cmd({"GET", k}).str, "v");
  auto after = c.cmd({"INFO"}).str;
  for (const char* f : {"# Server", "# Stats", "# Backends", "# Namespaces"})
    EXPECT_NE(after.find(f), std::string::npos) << f;
  EXPECT_EQ(info_field(after, "redis_version"), "7.0.0");
  EXPECT_EQ(info_field(after, "tcp_port"), std::to_string(port_));
  EXPECT_EQ(info_field(after, "shards"), "4");
  auto moved = [&](const char* figure) {
    return std::stoll(info_field(after, figure)) - std::stoll(info_field(before, figure));
  };
  EXPECT_EQ(moved("total_commands_processed"), 3);
  EXPECT_EQ(moved("writes"), 1);
  // The GET is a hit, unless the dirty-key lease lapsed just then and it
  // went to the database (a miss): one lookup either way.
  EXPECT_EQ(moved("keyspace_hits") + moved("keyspace_misses"), 1);
  EXPECT_GT(std::stoll(info_field(after, "write_latency_p50_us")), 0);
  EXPECT_GE(std::stoll(info_field(after, "write_latency_p99_us")),
            std::stoll(info_field(after, "write_latency_p50_us")));
  // One section when asked for one.
  auto stats = c.cmd({"INFO", "stats"}).str;
  EXPECT_EQ(stats.find("# Server"), std::string::npos);
  EXPECT_NE(stats.find("# Stats"), std::string::npos);
}
