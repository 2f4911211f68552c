// Where a GET goes (core/read_route.hpp): the connection skips the shard
// only while nothing is doubtful; the shard reads the database for a dirty
// key, without a fresh lease, or after the connection saw a miss.
#include <gtest/gtest.h>

#include "core/read_route.hpp"

using namespace wtcache;
using namespace std::chrono_literals;

TEST(ReadRoute, TheConnectionSkipsTheShardOnlyWhileNothingIsDoubtful) {
  node_health h;
  auto now = std::chrono::steady_clock::now();
  EXPECT_FALSE(may_skip_shard(h, now));  // no lease yet
  h.lease_until = (now + 1s).time_since_epoch().count();
  EXPECT_TRUE(may_skip_shard(h, now));
  h.marked = 1;
  EXPECT_FALSE(may_skip_shard(h, now));
  h.marked = 0;
  h.in_transit = 1;
  EXPECT_FALSE(may_skip_shard(h, now));
  h.in_transit = 0;
  h.shared_dirty = 3;
  EXPECT_FALSE(may_skip_shard(h, now));
  h.shared_dirty = 0;
  h.redis.configure({1, 1000ms, 1000ms});
  h.redis.failure(now);  // open
  EXPECT_FALSE(may_skip_shard(h, now));
  EXPECT_FALSE(may_skip_shard(node_health{}, now + 2s));
}

TEST(ReadRoute, TheShardTrustsTheCacheOnlyForACleanKeyUnderAFreshLease) {
  read_facts f;
  f.cache_trusted = true;
  EXPECT_EQ(route_read(f), read_route::cache);
  f.dirty = true;
  EXPECT_EQ(route_read(f), read_route::no_fill);
  f.dirty = false;
  f.cache_trusted = false;  // another node may have committed unseen
  EXPECT_EQ(route_read(f), read_route::fill);
  f.write_behind = true;  // its queue is in Redis: the cache is the truth
  EXPECT_EQ(route_read(f), read_route::cache);
  EXPECT_EQ(without_redis(f), read_route::need_redis);
  f.write_behind = false;
  EXPECT_EQ(without_redis(f), read_route::no_fill);
}

TEST(ReadRoute, AMissTheConnectionSawIsNotReadFromRedisAgain) {
  read_facts f;
  f.cache_trusted = true;
  f.cache_checked = true;
  EXPECT_EQ(route_read(f), read_route::fill);
  f.dirty = true;
  EXPECT_EQ(route_read(f), read_route::no_fill);
}

TEST(ReadRoute, OnDatabaseFailureFailRefusesWhilePostgresIsDown) {
  read_facts f;
  f.cache_trusted = true;
  f.refuse_without_database = true;
  EXPECT_EQ(route_read(f), read_route::cache);
  f.database_down = true;
  EXPECT_EQ(route_read(f), read_route::need_database);
}
