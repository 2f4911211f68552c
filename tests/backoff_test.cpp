// The restart backoff (core/backoff.hpp): doubling up to the cap, and the jitter.
#include <gtest/gtest.h>

#include "core/backoff.hpp"

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
