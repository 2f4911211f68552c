#include <gtest/gtest.h>

#include "core/backoff.hpp"
#include "core/latency.hpp"

using namespace std::chrono_literals;

TEST(Backoff, DoublesFromMinUpToMax) {
  wtcache::backoff_policy p{100ms, 1000ms, 0.0};
  EXPECT_EQ(p.delay(0, 0.5), 100ms);
  EXPECT_EQ(p.delay(1, 0.5), 200ms);
  EXPECT_EQ(p.delay(3, 0.5), 800ms);
  EXPECT_EQ(p.delay(4, 0.5), 1000ms);
  EXPECT_EQ(p.delay(1000, 0.5), 1000ms);
}

TEST(Backoff, JitterStretchesByAtMostTheRandomFactor) {
  wtcache::backoff_policy p{100ms, 10000ms, 0.2};
  EXPECT_EQ(p.delay(0, 0.0), 100ms);
  EXPECT_EQ(p.delay(0, 0.999), 119ms);
  EXPECT_EQ(p.delay(2, 0.5), 440ms);
}

TEST(LatencyHistogram, PercentilesAreWithinABucket) {
  wtcache::latency_histogram h;
  for (int i = 1; i <= 1000; ++i)
    h.record(std::chrono::microseconds(i));
  auto p50 = h.percentile(0.5).count();
  auto p99 = h.percentile(0.99).count();
  EXPECT_GE(p50, 500);
  EXPECT_LE(p50, 560);
  EXPECT_GE(p99, 990);
  EXPECT_LE(p99, 1100);
  EXPECT_EQ(h.count(), 1000u);
}
