// Single-flight reads (core/single_flight.hpp): GETs of a key join the read
// in flight until a write commits; later GETs start their own.
#include <gtest/gtest.h>

#include "core/single_flight.hpp"

using namespace wtcache;

TEST(SingleFlight, TheFirstGetStartsTheReadAndTheOthersJoinIt) {
  single_flight<int> reads;
  auto a = reads.join("k", 1);
  auto b = reads.join("k", 2);
  auto other = reads.join("j", 3);
  EXPECT_TRUE(a.first);
  EXPECT_FALSE(b.first);
  EXPECT_EQ(a.id, b.id);
  EXPECT_TRUE(other.first);
  EXPECT_NE(other.id, a.id);
  EXPECT_EQ(reads.finish("k", a.id), (std::vector<int>{1, 2}));
  EXPECT_EQ(reads.reads_in_flight(), 1u);
  // Done: the next GET starts a read of its own.
  EXPECT_TRUE(reads.join("k", 4).first);
}

TEST(SingleFlight, ACommitClosesTheReadToNewcomersAndToFilling) {
  single_flight<int> reads;
  auto old = reads.join("k", 1);
  EXPECT_TRUE(reads.current("k", old.id));
  reads.invalidate("k");  // a write to k committed while the read was out
  EXPECT_FALSE(reads.current("k", old.id));
  auto fresh = reads.join("k", 2);
  EXPECT_TRUE(fresh.first);
  EXPECT_NE(fresh.id, old.id);
  // The old read finishing answers its own waiters only, and leaves the new
  // read open for newcomers.
  EXPECT_EQ(reads.finish("k", old.id), (std::vector<int>{1}));
  EXPECT_TRUE(reads.current("k", fresh.id));
  EXPECT_FALSE(reads.join("k", 3).first);
  EXPECT_EQ(reads.finish("k", fresh.id), (std::vector<int>{2, 3}));
}

TEST(SingleFlight, FinishingAnUnknownReadAnswersNobody) {
  single_flight<int> reads;
  EXPECT_TRUE(reads.finish("k", 42).empty());
  auto a = reads.join("k", 1);
  reads.finish("k", a.id);
  EXPECT_TRUE(reads.finish("k", a.id).empty());  // twice: nothing left
}
