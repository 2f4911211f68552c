// The history checker on hand-made histories: it must catch what it exists
// to catch, and accept what the promises allow.
#include <gtest/gtest.h>

#include "tests/fault/history.hpp"

using namespace wtcache::test;
using namespace std::chrono_literals;

namespace {

auto t0 = std::chrono::steady_clock::time_point{} + 1h;

operation w(const std::string& v, int from, int to, outcome r = outcome::ok) {
  operation op;
  op.kind = operation::write;
  op.key = "k";
  op.value = v;
  op.result = r;
  op.invoked = t0 + std::chrono::milliseconds(from);
  op.completed = t0 + std::chrono::milliseconds(to);
  return op;
}

operation rd(const std::string& v, int from, int to) {
  auto op = w(v, from, to);
  op.kind = operation::read;
  op.found = !v.empty();
  return op;
}

}  // namespace

TEST(History, AcceptsTheLastAcknowledgedWriteOrALaterUnknownOne) {
  std::vector<operation> ops = {w("a", 0, 10), w("b", 20, 30), w("c", 40, 50, outcome::unknown)};
  EXPECT_TRUE(check(ops, {{"k", std::string("b")}}).ok());
  EXPECT_TRUE(check(ops, {{"k", std::string("c")}}).ok());
  auto lost = check(ops, {{"k", std::string("a")}});
  EXPECT_EQ(lost.lost_writes, 1u);
  EXPECT_EQ(check(ops, {{"k", std::nullopt}}).lost_writes, 1u);
}

TEST(History, ConcurrentWritesMayEndInEitherOrder) {
  std::vector<operation> ops = {w("a", 0, 30), w("b", 10, 20)};
  EXPECT_TRUE(check(ops, {{"k", std::string("a")}}).ok());
  EXPECT_TRUE(check(ops, {{"k", std::string("b")}}).ok());
}

TEST(History, CatchesStaleReadsAndReadsOfFailedWrites) {
  std::vector<operation> ops = {w("a", 0, 10), w("b", 20, 30), w("x", 35, 36, outcome::failed),
                                rd("b", 40, 41), rd("a", 15, 45), rd("a", 40, 42),
                                rd("x", 50, 51), rd("", 50, 52)};
  auto r = check(ops, {{"k", std::string("b")}});
  EXPECT_EQ(r.reads_checked, 5u);
  EXPECT_EQ(r.stale_reads, 2u);             // "a" read after "b" was acknowledged; nil
  EXPECT_EQ(r.reads_of_failed_writes, 1u);  // "x"
  EXPECT_FALSE(r.ok());
}
