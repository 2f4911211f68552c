// The shard's own rules (cache TTLs, kept marks), without an actor system. Its state
// machines have tests of their own: single_flight_test, group_commit_test,
// enqueue_line_test, dirty_keys_test, read_route_test.
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

TEST(CacheTtl, ShortTtlsAreRaisedToOutliveAFillInFlight) {
  auto st = make_state();
  st.cfg.redis_timeout = std::chrono::milliseconds(1000);
  EXPECT_EQ(st.clamp_ttl(1), 2000);
  EXPECT_EQ(st.clamp_ttl(5000), 5000);
  EXPECT_EQ(st.clamp_ttl(0), 0);  // no expiry stays no expiry
}

// Two transactions of a shard overlap: an older write's cache update may
// land after a newer one's failed. It takes only the marks of writes at or
// below its version; the newer write's mark stays.
TEST(KeptMarks, ACacheUpdateReleasesOnlyTheMarksOfWritesNoNewerThanItself) {
  auto st = make_state();
  st.keep_mark("k", "m5", 5);
  st.keep_mark("k", "m9", 9);
  st.keep_mark("other", "m3", 3);
  EXPECT_EQ(st.marks_covered("k", 7), (std::vector<std::string>{"m5"}));
  EXPECT_TRUE(st.marks_covered("k", 8).empty());  // m9 is newer still
  EXPECT_EQ(st.marks_covered("k", 9), (std::vector<std::string>{"m9"}));
  EXPECT_EQ(st.unreleased_marks.count("k"), 0u);
  EXPECT_EQ(st.marks_covered("other", 100), (std::vector<std::string>{"m3"}));
  EXPECT_TRUE(st.unreleased_marks.empty());
}
