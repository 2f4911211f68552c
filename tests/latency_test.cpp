// The statistics' histograms (core/latency.hpp): the log-linear latency
// histogram's percentiles, and the Prometheus buckets' quantiles.
#include <gtest/gtest.h>

#include "core/latency.hpp"

using namespace std::chrono_literals;

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

TEST(BucketHistogram, QuantilesInterpolateWithinTheirBucketAsPrometheusDoes) {
  wtcache::bucket_histogram h;
  for (int i = 0; i < 100; ++i)
    h.observe(2ms);  // the (0.001, 0.0025] bucket
  EXPECT_EQ(h.count(), 100u);
  EXPECT_NEAR(h.sum_seconds(), 0.2, 1e-9);
  auto q = h.quantile(0.5);
  EXPECT_GT(q, 0.001);
  EXPECT_LE(q, 0.0025);
  EXPECT_EQ(wtcache::bucket_histogram{}.quantile(0.5), 0.0);
}
