// Single-flight reads (core/single_flight.hpp): one database read of a key
// at a time; a GET is answered by a read that began after it arrived, or by
// one whose row is at least as new as the tombstone it saw.
#include <gtest/gtest.h>

#include "core/single_flight.hpp"

using namespace wtcache;

using reads_of_int = single_flight<int>;

namespace {

reads_of_int::result found(int64_t version) { return {false, true, version}; }
reads_of_int::result absent() { return {false, false, 0}; }
reads_of_int::result failed() { return {true, false, 0}; }

}  // namespace

TEST(SingleFlight, TheGetsThatArriveWhileAReadIsOutShareTheNextOne) {
  reads_of_int reads;
  auto a = reads.join("k", 1);
  auto b = reads.join("k", 2);
  auto c = reads.join("k", 3);
  auto other = reads.join("j", 9);
  EXPECT_TRUE(a.first);
  EXPECT_FALSE(b.first);
  EXPECT_FALSE(c.first);
  EXPECT_EQ(b.id, c.id);
  EXPECT_NE(b.id, a.id);
  EXPECT_TRUE(other.first);
  // The first read may have read the row before a write acknowledged on
  // another node before b and c arrived: they wait for a read of their own.
  auto done = reads.finish("k", a.id, found(5));
  EXPECT_EQ(done.waiters, (std::vector<int>{1}));
  EXPECT_EQ(done.next, b.id);
  EXPECT_TRUE(reads.current("k", b.id));
  auto late = reads.join("k", 4);  // arrives while the second read is out
  EXPECT_FALSE(late.first);
  done = reads.finish("k", b.id, found(5));
  EXPECT_EQ(done.waiters, (std::vector<int>{2, 3}));
  EXPECT_EQ(done.next, late.id);
  done = reads.finish("k", late.id, absent());
  EXPECT_EQ(done.waiters, (std::vector<int>{4}));
  EXPECT_EQ(done.next, 0u);
  EXPECT_EQ(reads.reads_in_flight(), 1u);  // j's
  EXPECT_TRUE(reads.join("k", 5).first);   // nothing out: a read of its own
}

TEST(SingleFlight, AGetThatSawATombstoneTakesTheReadOutIfItsRowIsAsNew) {
  reads_of_int reads;
  auto a = reads.join("k", 1);
  reads.join("k", 2, 7);  // saw a tombstone at 7
  reads.join("k", 3, 8);  // saw one at 8
  reads.join("k", 4);     // saw nothing
  auto done = reads.finish("k", a.id, found(7));
  EXPECT_EQ(done.waiters, (std::vector<int>{1, 2}));
  ASSERT_NE(done.next, 0u);
  done = reads.finish("k", done.next, found(8));
  EXPECT_EQ(done.waiters, (std::vector<int>{3, 4}));
  EXPECT_EQ(done.next, 0u);
}

TEST(SingleFlight, AnAbsentRowAnswersOnlyTheGetsThatArrivedBeforeItsRead) {
  reads_of_int reads;
  auto a = reads.join("k", 1);
  reads.join("k", 2, 7);  // a DEL's tombstone: its version is on no row
  auto done = reads.finish("k", a.id, absent());
  EXPECT_EQ(done.waiters, (std::vector<int>{1}));
  EXPECT_NE(done.next, 0u);
}

TEST(SingleFlight, AFailedReadAnswersEveryoneWithItsError) {
  reads_of_int reads;
  auto a = reads.join("k", 1);
  reads.join("k", 2);
  auto done = reads.finish("k", a.id, failed());
  EXPECT_EQ(done.waiters, (std::vector<int>{1, 2}));
  EXPECT_EQ(done.next, 0u);
  EXPECT_EQ(reads.reads_in_flight(), 0u);
}

TEST(SingleFlight, ACommitClosesTheReadOutToFilling) {
  reads_of_int reads;
  auto old = reads.join("k", 1);
  EXPECT_TRUE(reads.current("k", old.id));
  reads.invalidate("k");  // a write to k committed while the read was out
  EXPECT_FALSE(reads.current("k", old.id));
  auto fresh = reads.join("k", 2);
  EXPECT_FALSE(fresh.first);
  auto done = reads.finish("k", old.id, found(3));
  EXPECT_EQ(done.waiters, (std::vector<int>{1}));
  EXPECT_EQ(done.next, fresh.id);
  EXPECT_TRUE(reads.current("k", fresh.id));  // began after the commit
}

TEST(SingleFlight, AReadFillsOnlyIfAllItsGetsMay) {
  reads_of_int reads;
  auto a = reads.join("k", 1, 0, false);
  EXPECT_FALSE(reads.may_fill("k", a.id));
  reads.join("k", 2, 0, true);
  reads.join("k", 3, 0, false);
  auto done = reads.finish("k", a.id, found(1));
  EXPECT_FALSE(reads.may_fill("k", done.next));
  reads.finish("k", done.next, found(1));
  auto b = reads.join("k", 4);
  EXPECT_TRUE(reads.may_fill("k", b.id));
}

TEST(SingleFlight, FinishingAnUnknownReadAnswersNobody) {
  reads_of_int reads;
  EXPECT_TRUE(reads.finish("k", 42, found(1)).waiters.empty());
  auto a = reads.join("k", 1);
  reads.finish("k", a.id, found(1));
  EXPECT_TRUE(reads.finish("k", a.id, found(1)).waiters.empty());  // twice: nothing left
}
