// The shard's own rules (cache TTLs), without an actor system. Its state
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
