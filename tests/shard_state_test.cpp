// The shard's dirty-key bookkeeping, without an actor system.
#include <gtest/gtest.h>

#include "actors/shard_coordinator.hpp"

using namespace wtcache;

namespace {

shard_state make_state() {
  shard_state st;
  st.cfg.metrics = std::make_shared<service_metrics>();
  st.cfg.health = std::make_shared<node_health>();
  return st;
}

}  // namespace

TEST(DirtyKeys, KnownVersionsMergeToTheNewest) {
  auto st = make_state();
  st.mark_dirty("k", 7);
  st.mark_dirty("k", 5);
  EXPECT_EQ(st.dirty.at("k").version, 7);
  EXPECT_EQ(st.cfg.health->marked.load(), 1u);
  st.clear_dirty_upto("k", 6);  // an older cache write does not settle it
  EXPECT_EQ(st.dirty.count("k"), 1u);
  st.clear_dirty_upto("k", 7);
  EXPECT_EQ(st.dirty.count("k"), 0u);
  EXPECT_EQ(st.cfg.health->marked.load(), 0u);
}

TEST(DirtyKeys, AnUnknownOutcomeNeedsAFreshVersionAndNoCacheWriteSettlesIt) {
  auto st = make_state();
  st.mark_dirty("k", 9);
  st.mark_dirty("k", 0);
  EXPECT_EQ(st.dirty.at("k").version, 0);
  st.mark_dirty("k", 12);
  EXPECT_EQ(st.dirty.at("k").version, 0);
  st.clear_dirty_upto("k", 1000);
  EXPECT_EQ(st.dirty.count("k"), 1u);
}

TEST(DirtyKeys, EveryMarkBumpsTheGeneration) {
  auto st = make_state();
  st.mark_dirty("k", 0);
  auto g = st.dirty.at("k").generation;
  st.mark_dirty("k", 0);  // re-dirtied while a tombstone was on its way
  EXPECT_GT(st.dirty.at("k").generation, g);
}

TEST(CacheTtl, ShortTtlsAreRaisedToOutliveAFillInFlight) {
  auto st = make_state();
  st.cfg.redis_timeout = std::chrono::milliseconds(1000);
  EXPECT_EQ(st.clamp_ttl(1), 2000);
  EXPECT_EQ(st.clamp_ttl(5000), 5000);
  EXPECT_EQ(st.clamp_ttl(0), 0);  // no expiry stays no expiry
}
