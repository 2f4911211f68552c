// Dirty keys (core/dirty_keys.hpp): versions merge, an unknown outcome needs
// a fresh version, a tombstone only clears the mark it was written for
// (generations), records of other nodes, and the retry loop's backoff.
#include <gtest/gtest.h>

#include "core/dirty_keys.hpp"

using namespace wtcache;

TEST(DirtyKeys, KnownVersionsMergeToTheNewestAndTheNodeCountFollows) {
  std::atomic<uint64_t> marked{0};
  dirty_keys dirty(&marked);
  dirty.mark_dirty("k", 7);
  dirty.mark_dirty("k", 5);
  EXPECT_EQ(dirty.find("k")->version, 7);
  EXPECT_EQ(marked.load(), 1u);
  dirty.cached("k", 6);  // an older cache write does not settle it
  EXPECT_TRUE(dirty.contains("k"));
  dirty.cached("k", 7);
  EXPECT_FALSE(dirty.contains("k"));
  EXPECT_EQ(marked.load(), 0u);
}

TEST(DirtyKeys, AnUnknownOutcomeNeedsAFreshVersionAndNoCacheWriteSettlesIt) {
  dirty_keys dirty;
  dirty.mark_dirty("k", 9);
  dirty.mark_dirty("k", 0);
  EXPECT_EQ(dirty.find("k")->version, 0);
  dirty.mark_dirty("k", 12);
  EXPECT_EQ(dirty.find("k")->version, 0);
  dirty.cached("k", 1000);
  EXPECT_TRUE(dirty.contains("k"));
  EXPECT_TRUE(dirty.needs_fresh_version());
  auto ts = dirty.tombstones(500);
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].version, 500);
}

TEST(DirtyKeys, ATombstoneClearsOnlyTheGenerationItWasWrittenFor) {
  dirty_keys dirty;
  dirty.mark_dirty("k", 3);
  dirty.mark_dirty("j", 4);
  auto sent = dirty.tombstones(0);
  // k is marked again while its tombstone is on its way.
  dirty.mark_dirty("k", 3);
  for (auto& t : sent) {
    auto gone = dirty.landed(t);
    EXPECT_EQ(gone.has_value(), t.key == "j") << t.key;
  }
  EXPECT_TRUE(dirty.contains("k"));
  EXPECT_FALSE(dirty.contains("j"));
  // The next round's tombstone for k clears it.
  auto again = dirty.tombstones(0);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(dirty.landed(again[0]).has_value());
  EXPECT_TRUE(dirty.empty());
}

TEST(DirtyKeys, AnotherNodesRecordMarksTheKeyUnlessANewerMarkIsHere) {
  dirty_keys dirty;
  dirty.recorded("a", 10);  // unknown here: marked, shared
  EXPECT_EQ(dirty.find("a")->version, 10);
  EXPECT_TRUE(dirty.find("a")->shared);
  dirty.mark_dirty("b", 20);
  dirty.recorded("b", 15);  // older than ours: only noted
  EXPECT_EQ(dirty.find("b")->version, 20);
  EXPECT_TRUE(dirty.find("b")->shared);
  dirty.recorded("b", 25);  // newer: the mark moves up
  EXPECT_EQ(dirty.find("b")->version, 25);
  // A record noted after the tombstone was sent still has the record deleted.
  dirty.mark_dirty("c", 5);
  auto sent = dirty.tombstones(0);
  dirty.recorded("c", 5);
  for (auto& t : sent)
    if (t.key == "c") {
      auto gone = dirty.landed(t);
      ASSERT_TRUE(gone.has_value());
      EXPECT_TRUE(gone->shared);
    }
}

TEST(DirtyKeys, TheRetryLoopIsArmedOnceAndBacksOffWhileKeysRemain) {
  dirty_keys dirty;
  EXPECT_FALSE(dirty.schedule());  // nothing dirty
  dirty.mark_dirty("k", 1);
  EXPECT_TRUE(dirty.schedule());
  EXPECT_FALSE(dirty.schedule());  // armed already
  dirty.retry_started();
  dirty.retry_failed();
  EXPECT_EQ(dirty.attempt(), 1u);
  dirty.retry_answered();  // answered, k still dirty
  EXPECT_EQ(dirty.attempt(), 2u);
  for (auto& t : dirty.tombstones(0))
    dirty.landed(t);
  dirty.retry_answered();
  EXPECT_EQ(dirty.attempt(), 0u);
  EXPECT_FALSE(dirty.schedule());
}
