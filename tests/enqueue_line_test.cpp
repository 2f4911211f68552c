// The write-behind line (core/enqueue_line.hpp): arrival order, one call in
// flight, caps, and commands the script did not run going back in front.
#include <gtest/gtest.h>

#include "core/enqueue_line.hpp"

using namespace wtcache;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

const auto t0 = clock_type::now();

enqueue_line<int>::command cmd(int ticket, std::size_t ops, clock_type::duration life = 1s) {
  return {std::vector<queued_write>(ops), ticket, t0, t0 + life};
}

std::vector<int> tickets(const std::vector<enqueue_line<int>::command>& cs) {
  std::vector<int> out;
  for (auto& c : cs)
    out.push_back(c.ticket);
  return out;
}

}  // namespace

TEST(EnqueueLine, OneCallInFlightTakingWholeCommandsUpToTheCap) {
  enqueue_line<int> line(100, 3);
  line.admit(cmd(1, 2));
  line.admit(cmd(2, 2));
  line.admit(cmd(3, 1));
  EXPECT_EQ(tickets(line.take(t0).call), (std::vector<int>{1}));
  EXPECT_TRUE(line.take(t0).call.empty());
  line.done();
  EXPECT_EQ(tickets(line.take(t0).call), (std::vector<int>{2, 3}));
}

TEST(EnqueueLine, CommandsNotRunGoBackInFrontInTheirOrder) {
  enqueue_line<int> line(100, 100);
  for (int i = 1; i <= 4; ++i)
    line.admit(cmd(i, 1));
  auto call = line.take(t0).call;  // 1..4
  ASSERT_EQ(call.size(), 4u);
  line.admit(cmd(5, 1));  // arrived while the call was out
  // The script ran 1, and 2 needs its row: 2, 3, 4 come back before 5.
  line.put_back(call, 1);
  EXPECT_EQ(line.front().ticket, 2);
  EXPECT_TRUE(line.in_flight());  // still: 2's row is being read
  EXPECT_TRUE(line.take(t0).call.empty());
  line.done();
  EXPECT_EQ(tickets(line.take(t0).call), (std::vector<int>{2, 3, 4, 5}));
}

TEST(EnqueueLine, AFullLineRefusesAndExpiredCommandsAreTakenOut) {
  enqueue_line<int> line(2, 100);
  EXPECT_TRUE(line.admit(cmd(1, 1, 10ms)));
  EXPECT_TRUE(line.admit(cmd(2, 1)));
  EXPECT_TRUE(line.full());
  EXPECT_FALSE(line.admit(cmd(3, 1)));
  auto next = line.take(t0 + 50ms);
  EXPECT_EQ(tickets(next.expired), (std::vector<int>{1}));
  EXPECT_EQ(tickets(next.call), (std::vector<int>{2}));
}

TEST(EnqueueLine, AFailedHeadLeavesTheRestInOrder) {
  enqueue_line<int> line(100, 1);
  line.admit(cmd(1, 1));
  line.admit(cmd(2, 1));
  auto call = line.take(t0).call;
  line.put_back(call, 0);
  EXPECT_EQ(line.pop_front().ticket, 1);  // its rows could not be read
  line.done();
  EXPECT_EQ(tickets(line.take(t0).call), (std::vector<int>{2}));
}
