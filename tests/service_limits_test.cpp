// Promise 6 and bad input: queues, pipelines and reply buffers have limits,
// met with a clear error (or a cut-off connection), and bad input changes
// nothing and harms no other client.
#include <future>
#include <set>

#include <gtest/gtest.h>

#include "tests/support/http.hpp"
#include "tests/support/service_fixture.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;

TEST_F(Service, AValueOverTheLimitIsRefusedAndTheConnectionStaysUsable) {
  resp_client c(port_);
  auto k = key();
  auto r = c.cmd({"SET", k, std::string(16 * 1024 * 1024 + 1, 'x')});
  EXPECT_EQ(r.str, "ERR value too large (16777217 bytes; the limit is 16777216)");
  EXPECT_EQ(c.cmd({"PING"}).str, "PONG");
  EXPECT_TRUE(c.cmd({"GET", k}).is_nil());
}

TEST_F(Service, MalformedRespClosesOnlyThatConnection) {
  resp_client other(port_);
  raw_socket s(port_);
  s.send("*1\r\n$4\r\nPING\r\n*1\r\n:oops\r\n");
  auto got = s.receive(7 + 44);
  EXPECT_EQ(got, "+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n");
  EXPECT_TRUE(s.closed_by_peer());
  EXPECT_EQ(other.cmd({"PING"}).str, "PONG");
}

// Bounded resources: a shard's write queue has a limit, and a write beyond
// it is refused at once with -BUSY instead of waiting or growing memory.
TEST_F(Service, AFullWriteQueueAnswersBusy) {
  // No reaper: its deletes of rows earlier tests left expired go through
  // the same queues, and would take the places counted on here.
  auto small = start_service_with([](config& cfg) {
    cfg.max_queued_writes = 2;
    for (auto& ns : cfg.namespaces)
      ns.expiry = expiry_mode::cache;
  });
  resp_client c(small->port());
  auto first = key();
  auto hold = hold_shard_with(first, small->port());
  std::vector<std::future<reply>> queued;
  for (int i = 0; i < 2; ++i)
    queued.push_back(std::async(std::launch::async, [&, k = key_beside(first)] {
      resp_client w(small->port());
      return w.cmd({"SET", k, "q"});
    }));
  ASSERT_TRUE(eventually([&] { return small->metrics().queued_writes.load() == 2; }));
  EXPECT_EQ(c.cmd({"SET", key_beside(first), "over"}).str, "BUSY write queue full; retry later");
  write_gate_->release(first);
  EXPECT_EQ(hold.get().str, "OK");
  for (auto& q : queued)
    EXPECT_EQ(q.get().str, "OK");
}

// Bounded resources: a client that asks for more than it reads is cut off
// once its unsent replies pass the limit and stop draining; other clients
// are unaffected.
TEST_F(Service, AClientThatDoesNotReadItsRepliesIsCutOff) {
  auto small = start_service_with([](config& cfg) {
    cfg.max_reply_buffer_bytes = 4 * 1024 * 1024;
    cfg.max_value_bytes = 2 * 1024 * 1024;  // the buffer holds two of the largest values
  });
  resp_client c(small->port());
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, std::string(1024 * 1024, 'x')}).str, "OK");
  raw_socket greedy(small->port());
  auto get = "*2\r\n$3\r\nGET\r\n$" + std::to_string(k.size()) + "\r\n" + k + "\r\n";
  // It keeps asking for 1 MiB replies and never reads one; the server cuts it
  // off (its sends then fail with a reset) instead of buffering without end.
  EXPECT_TRUE(eventually([&] { return !greedy.try_send(get); }, 30s));
  EXPECT_EQ(c.cmd({"PING"}).str, "PONG");
}
