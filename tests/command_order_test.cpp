// A connection's command order (core/command_order.hpp): reads wait for
// earlier writes of their keys and writes for earlier reads; a write over
// several shards is a barrier; other keys overtake.
#include <gtest/gtest.h>

#include "core/command_order.hpp"

using namespace wtcache;

namespace {

command_plan read_of(std::vector<std::string> keys) {
  command_plan p;
  p.kind = plan_kind::read;
  p.keys = std::move(keys);
  return p;
}

command_plan write_of(std::vector<std::string> keys) {
  command_plan p;
  p.kind = plan_kind::write;
  for (auto& k : keys)
    p.request.writes.push_back({op_kind::set, k, "v", 0});
  return p;
}

}  // namespace

TEST(CommandOrder, AReadWaitsForAnEarlierWriteOfItsKeyOnly) {
  command_order order;
  auto w = write_of({"a"});
  order.start(w, false);
  EXPECT_FALSE(order.ready(read_of({"a"}), false));
  EXPECT_TRUE(order.ready(read_of({"b"}), false));  // other keys overtake
  order.finish(w, false);
  EXPECT_TRUE(order.ready(read_of({"a"}), false));
  EXPECT_EQ(order.in_flight(), 0u);
}

TEST(CommandOrder, AWriteWaitsForEarlierReadsOfItsKeyButReadsShareAKey) {
  command_order order;
  auto r1 = read_of({"a"}), r2 = read_of({"a", "b"});
  order.start(r1, false);
  EXPECT_TRUE(order.ready(r2, false));
  order.start(r2, false);
  EXPECT_FALSE(order.ready(write_of({"b"}), false));
  order.finish(r2, false);
  EXPECT_TRUE(order.ready(write_of({"b"}), false));
  EXPECT_FALSE(order.ready(write_of({"a"}), false));
  order.finish(r1, false);
  EXPECT_TRUE(order.ready(write_of({"a"}), false));
}

TEST(CommandOrder, AWriteOverSeveralShardsWaitsForAllAndHoldsBackAll) {
  command_order order;
  auto r = read_of({"x"});
  auto mset = write_of({"a", "b"});
  order.start(r, false);
  EXPECT_FALSE(order.ready(mset, true));  // something is still in flight
  order.finish(r, false);
  EXPECT_TRUE(order.ready(mset, true));
  order.start(mset, true);
  EXPECT_FALSE(order.ready(read_of({"unrelated"}), false));
  order.finish(mset, true);
  EXPECT_TRUE(order.ready(read_of({"unrelated"}), false));
}

TEST(CommandOrder, OnlyAWriteOverKeysOfDifferentShardsIsABarrier) {
  EXPECT_FALSE(spans_shards(write_of({"a"}), 4));
  EXPECT_FALSE(spans_shards(write_of({"a", "a"}), 4));
  EXPECT_FALSE(spans_shards(write_of({"a", "b", "c"}), 1));
  // Some pair of distinct keys lands on different shards of 4.
  bool any = false;
  for (int i = 0; i < 16 && !any; ++i)
    any = spans_shards(write_of({"k0", "k" + std::to_string(i)}), 4);
  EXPECT_TRUE(any);
}
