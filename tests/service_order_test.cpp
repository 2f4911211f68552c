// Promise 4 and per-connection order: pipelined commands are answered in
// request order and see the connection's earlier writes, however long the
// pipeline or large the command.
#include <future>
#include <set>

#include <gtest/gtest.h>

#include "tests/support/http.hpp"
#include "tests/support/service_fixture.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;

TEST_F(Service, PipelinedCommandsAreAnsweredInOrderAndSeeEarlierWrites) {
  resp_client c(port_);
  auto k = key();
  constexpr int n = 500;
  for (int i = 0; i < n; ++i) {
    c.append({"SET", k, std::to_string(i)});
    c.append({"GET", k});
    c.append({"ECHO", std::to_string(i)});
  }
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(c.read().str, "OK");
    EXPECT_EQ(c.read().str, std::to_string(i));
    EXPECT_EQ(c.read().str, std::to_string(i));
  }
  EXPECT_EQ(sql("SELECT value FROM wtcache_kv WHERE key = $1", k)[0][0].as<std::string>(),
            "\\x" + [] { std::string h; for (char ch : std::to_string(n - 1)) { char b[3]; std::snprintf(b, 3, "%02x", ch); h += b; } return h; }());
}

// Reading stops at max_pipeline unanswered commands and must always resume:
// a long pipeline through a tiny window still completes, in order.
TEST_F(Service, ALongPipelineThroughASmallWindowCompletesInOrder) {
  auto small = start_service_with([](config& cfg) { cfg.max_pipeline = 4; });
  resp_client c(small->port());
  auto k = key();
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i) {
    c.append({"SET", k, std::to_string(i)});
    c.append({"GET", k});
  }
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(c.read().str, "OK") << i;
    ASSERT_EQ(c.read().str, std::to_string(i)) << i;
  }
}

// A command with more keys than a batch or a lookup window still works as
// one command: MSET stays one transaction, MGET answers every key in order.
TEST_F(Service, CommandsWithThousandsOfKeysWork) {
  resp_client c(port_);
  constexpr int n = 3000;  // above max_batch_ops (1000) and the lookup window (256)
  std::vector<std::string> mset = {"MSET"}, mget = {"MGET"};
  for (int i = 0; i < n; ++i) {
    auto k = key();
    mset.insert(mset.end(), {k, "v" + std::to_string(i)});
    mget.push_back(k);
  }
  auto transactions = std::stoll(info_field(c, "db_transactions"));
  ASSERT_EQ(c.cmd(mset).str, "OK");
  // One transaction: every row was written by the same one (xmin), and the
  // service counted one.
  std::string keys = "{";
  for (std::size_t i = 1; i < mget.size(); ++i)
    keys += (i > 1 ? "," : "") + mget[i];
  keys += "}";
  auto rows = sql("SELECT count(*), count(DISTINCT xmin::text) FROM wtcache_kv "
                  "WHERE key = ANY($1::text[])", keys);
  EXPECT_EQ(rows[0][0].as<int>(), n);
  EXPECT_EQ(rows[0][1].as<int>(), 1);
  EXPECT_EQ(std::stoll(info_field(c, "db_transactions")), transactions + 1);
  auto got = c.cmd(mget);
  ASSERT_EQ(got.elements.size(), static_cast<std::size_t>(n)) << got.str;
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(got.elements[i].str, "v" + std::to_string(i)) << i;
}
