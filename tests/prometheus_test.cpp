// The Prometheus exposition on its own: histogram buckets (upper bounds
// inclusive, cumulative in the text), label escaping, node health.
#include <gtest/gtest.h>

#include "core/prometheus.hpp"
#include "tests/support/http.hpp"

using namespace wtcache;
using namespace std::chrono_literals;

TEST(Prometheus, HistogramBucketsAreInclusiveAndCumulative) {
  service_metrics m;
  auto& get = m.command("GET");
  EXPECT_EQ(get.name, "get");
  get.calls = 4;
  get.latency.observe(50us);  // <= 0.0001
  get.latency.observe(1ms);   // <= 0.001, exactly on the bound
  get.latency.observe(1001us);
  get.latency.observe(20s);   // +Inf only
  auto text = prometheus_text(m, node_health{}, std::chrono::steady_clock::now());
  auto at = [&](const std::string& le) {
    return test::metric(text, "wtcache_command_duration_seconds_bucket{command=\"get\",le=\"" + le + "\"}");
  };
  EXPECT_EQ(at("0.0001"), 1);
  EXPECT_EQ(at("0.0005"), 1);
  EXPECT_EQ(at("0.001"), 2);
  EXPECT_EQ(at("0.0025"), 3);
  EXPECT_EQ(at("10"), 3);
  EXPECT_EQ(at("+Inf"), 4);
  EXPECT_EQ(test::metric(text, "wtcache_command_duration_seconds_count{command=\"get\"}"), 4);
  EXPECT_DOUBLE_EQ(test::metric(text, "wtcache_command_duration_seconds_sum{command=\"get\"}"),
                   20.002051);
  // Commands nobody sent have no series.
  EXPECT_EQ(text.find("command=\"mset\""), std::string::npos);
  EXPECT_EQ(&m.command("nosuch"), &m.command("other"));
}

TEST(Prometheus, LabelValuesAreEscapedAndRatiosStartAsNaN) {
  service_metrics m;
  m.set_namespaces({"odd\"table\\name"});
  auto text = prometheus_text(m, node_health{}, std::chrono::steady_clock::now());
  EXPECT_NE(text.find("wtcache_cache_hit_ratio{namespace=\"odd\\\"table\\\\name\"} NaN"),
            std::string::npos)
    << text;
  m.hit(0);
  m.hit(0);
  m.hit(0);
  m.miss(0);
  text = prometheus_text(m, node_health{}, std::chrono::steady_clock::now());
  EXPECT_EQ(test::metric(text, "wtcache_cache_hit_ratio{namespace=\"odd\\\"table\\\\name\"}"), 0.75);
  EXPECT_EQ(m.hits.load(), 3u);
}

// Node health's figures are in the exposition: the breakers and the dirty keys.
TEST(Prometheus, ShowsTheBreakersAndDirtyKeysOfNodeHealth) {
  service_metrics m;
  node_health h;
  h.marked = 2;
  h.shared_dirty = 5;
  auto now = std::chrono::steady_clock::now();
  h.redis.configure({1, 1000ms, 1000ms});
  h.redis.failure(now);
  auto text = prometheus_text(m, h, now);
  EXPECT_EQ(test::metric(text, "wtcache_dirty_keys"), 2);
  EXPECT_EQ(test::metric(text, "wtcache_dirty_keys_shared"), 5);
  EXPECT_EQ(test::metric(text, "wtcache_circuit_breaker_state{backend=\"redis\"}"), 2);
  EXPECT_EQ(test::metric(text, "wtcache_circuit_breaker_state{backend=\"postgres\"}"), 0);
  EXPECT_EQ(test::metric(text, "wtcache_circuit_breaker_opened_total{backend=\"redis\"}"), 1);
}
