// The circuit breaker's states, with time passed in.
#include <gtest/gtest.h>

#include "core/breaker.hpp"

using namespace wtcache;
using namespace std::chrono_literals;
using state = circuit_breaker::state;

TEST(Breaker, OpensAfterConsecutiveFailuresAndProbesOnceWhenHalfOpen) {
  circuit_breaker b;
  b.configure({3, 1000ms, 10000ms});
  auto t = std::chrono::steady_clock::time_point{} + 1h;
  EXPECT_TRUE(b.allow(t));
  b.failure(t);
  b.failure(t);
  b.success(t);  // a success in between starts the count again
  b.failure(t);
  b.failure(t);
  EXPECT_EQ(b.current(t), state::closed);
  EXPECT_TRUE(b.failure(t).opened);
  EXPECT_EQ(b.current(t), state::open);
  EXPECT_FALSE(b.allow(t + 999ms));
  EXPECT_EQ(b.current(t + 1000ms), state::half_open);
  EXPECT_TRUE(b.allow(t + 1000ms));   // the probe
  EXPECT_FALSE(b.allow(t + 1001ms));  // one at a time
  b.failure(t + 1100ms);              // the probe failed: open again, 2 s now
  EXPECT_FALSE(b.allow(t + 3000ms));
  EXPECT_TRUE(b.allow(t + 3100ms));
  b.failure(t + 3100ms);              // and 4 s
  EXPECT_FALSE(b.allow(t + 7000ms));
  EXPECT_TRUE(b.allow(t + 7100ms));
  auto closed = b.success(t + 7200ms);
  EXPECT_TRUE(closed.closed);
  EXPECT_EQ(closed.outage, 7200ms);
  EXPECT_EQ(b.current(t + 7200ms), state::closed);
  EXPECT_TRUE(b.allow(t + 7200ms));
  EXPECT_EQ(b.times_opened(), 1u);
}

// A probe whose answer never comes back (its caller lost it) must not keep
// the circuit half-open for good: after max_open_for another request probes.
TEST(Breaker, GivesUpOnAProbeNobodyReportedOn) {
  circuit_breaker b;
  b.configure({1, 1000ms, 5000ms});
  auto t = std::chrono::steady_clock::time_point{} + 1h;
  b.failure(t);
  EXPECT_TRUE(b.allow(t + 1000ms));    // the probe, never reported
  EXPECT_FALSE(b.allow(t + 5999ms));
  EXPECT_TRUE(b.allow(t + 6000ms));    // given up: the next one probes
  EXPECT_FALSE(b.allow(t + 6001ms));
  EXPECT_TRUE(b.success(t + 6100ms).closed);
}
