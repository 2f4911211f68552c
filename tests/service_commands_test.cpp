// The Redis commands applications use, with their promises on real
// servers: conditions decided by PostgreSQL across nodes, expiry of the
// value itself, FLUSHDB that empties only the default table.
#include <atomic>
#include <future>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/service_fixture.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace std::chrono_literals;

// 50 clients on two nodes race SET NX on one key: the row lock decides,
// so exactly one wins, and its value is what both nodes then read.
TEST_F(Service, SetNxRacedAcrossTwoNodesHasExactlyOneWinner) {
  auto other = start_service(suite_config());
  auto k = key();
  std::atomic<int> ok{0}, nil{0}, other_replies{0};
  std::vector<std::thread> clients;
  std::promise<void> go;
  auto start = go.get_future().share();
  for (int i = 0; i < 50; ++i)
    clients.emplace_back([&, i] {
      resp_client c(i % 2 ? port_ : other->port());
      start.wait();
      auto r = c.cmd({"SET", k, "owner" + std::to_string(i), "NX", "PX", "60000"});
      if (r.kind == reply::status && r.str == "OK")
        ++ok;
      else if (r.is_nil())
        ++nil;
      else
        ++other_replies;
    });
  go.set_value();
  for (auto& t : clients)
    t.join();
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(nil, 49);
  EXPECT_EQ(other_replies, 0);
  resp_client a(port_), b(other->port());
  auto winner = a.cmd({"GET", k}).str;
  EXPECT_EQ(b.cmd({"GET", k}).str, winner);
  EXPECT_EQ(pqxx::binarystring(sql("SELECT value FROM wtcache_kv WHERE key = $1", k)[0][0]).str(),
            winner);
  other->stop();
}

TEST_F(Service, MsetnxWritesAllOrNothing) {
  resp_client c(port_);
  auto a = key(), b = key(), taken = key();
  ASSERT_EQ(c.cmd({"SET", taken, "x"}).str, "OK");
  EXPECT_EQ(c.cmd({"MSETNX", a, "1", b, "2", taken, "3"}).number, 0);
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key IN ($1, $2)", a, b).size(), 0u);
  EXPECT_EQ(c.cmd({"GET", taken}).str, "x");
  EXPECT_EQ(c.cmd({"MSETNX", a, "1", b, "2"}).number, 1);
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key IN ($1, $2)", a, b).size(), 2u);
}

// A condition the cache cannot see: the key was evicted from Redis, and
// SET NX still refuses, because the row decides.
TEST_F(Service, SetNxIsDecidedByTheRowNotTheCache) {
  resp_client c(port_);
  auto k = key();
  set_then_evict(c, k, "first");
  EXPECT_TRUE(c.cmd({"SET", k, "second", "NX"}).is_nil());
  EXPECT_EQ(c.cmd({"GET", k}).str, "first");
  EXPECT_EQ(c.cmd({"APPEND", k, "+"}).number, 6);
  EXPECT_EQ(c.cmd({"GET", k}).str, "first+");
}

TEST_F(Service, AnExpiredValueIsAbsentOnEveryNodeAlsoWithoutItsCacheEntry) {
  auto other = start_service(suite_config());
  resp_client a(port_), b(other->port());
  auto k = key();
  ASSERT_EQ(a.cmd({"SET", k, "v", "PX", "1500"}).str, "OK");
  EXPECT_EQ(b.cmd({"GET", k}).str, "v");
  auto expires = sql("SELECT expires_at IS NOT NULL FROM wtcache_kv WHERE key = $1", k);
  ASSERT_EQ(expires.size(), 1u);
  EXPECT_TRUE(expires[0][0].as<bool>());
  // The cache copy ends no later than the value.
  resp_client redis(servers::get().redis_port());
  auto pttl = redis.cmd({"PTTL", cache_key(k)}).number;
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 1500);
  ASSERT_TRUE(eventually([&] { return a.cmd({"GET", k}).is_nil(); }, 5s));
  EXPECT_TRUE(b.cmd({"GET", k}).is_nil());
  EXPECT_EQ(b.cmd({"EXISTS", k}).number, 0);
  EXPECT_EQ(b.cmd({"TTL", k}).number, -2);
  // Without any cache entry at all (as after a FLUSHALL of the cache's
  // Redis, which the other tests of this binary share): the row is still
  // there, expired, and every read still says the key is gone.
  redis.cmd({"DEL", cache_key(k)});
  auto from_a = a.cmd({"GET", k}), from_b = b.cmd({"GET", k});
  EXPECT_TRUE(from_a.is_nil()) << from_a;
  EXPECT_TRUE(from_b.is_nil()) << from_b;
  EXPECT_TRUE(b.cmd({"SET", k, "again", "XX"}).is_nil());
  EXPECT_EQ(a.cmd({"SET", k, "new", "NX"}).str, "OK");
  EXPECT_EQ(b.cmd({"GET", k}).str, "new");
  EXPECT_EQ(b.cmd({"TTL", k}).number, -1);
  other->stop();
}

// expiry = "cache": EXPIRE sets the cache copy's TTL, the row stays, and
// TTL says the value never expires.
TEST_F(Service, ExpireOnACacheExpiryNamespaceBoundsOnlyTheCacheCopy) {
  resp_client c(port_);
  resp_client redis(servers::get().redis_port());
  ASSERT_EQ(c.cmd({"SET", "views:/exp", "1"}).str, "OK");
  EXPECT_EQ(c.cmd({"EXPIRE", "views:/exp", "100"}).number, 1);
  auto pttl = redis.cmd({"PTTL", cache_key("views:/exp")}).number;
  EXPECT_GT(pttl, 90 * 1000);
  EXPECT_LE(pttl, 100 * 1000);
  EXPECT_EQ(c.cmd({"TTL", "views:/exp"}).number, -1);
  EXPECT_EQ(c.cmd({"EXPIRE", "views:/exp", "100", "XX"}).number, 0);  // judged as no TTL
  EXPECT_EQ(c.cmd({"PERSIST", "views:/exp"}).number, 0);
  // A time past drops the copy; the row stays and reads through.
  EXPECT_EQ(c.cmd({"EXPIRE", "views:/exp", "-1"}).number, 1);
  EXPECT_EQ(field(redis_entry("views:/exp"), "k"), "t");
  EXPECT_EQ(sql("SELECT view_count FROM page_views WHERE page_url = '/exp'")[0][0].as<std::string>(),
            "1");
  EXPECT_EQ(c.cmd({"GET", "views:/exp"}).str, "1");
  EXPECT_EQ(c.cmd({"EXPIRE", "views:/nothing", "10"}).number, 0);
}

TEST_F(Service, FlushdbIsRefusedUnlessAllowed) {
  resp_client c(port_);
  auto k = key();
  ASSERT_EQ(c.cmd({"SET", k, "v"}).str, "OK");
  auto r = c.cmd({"FLUSHDB"});
  ASSERT_TRUE(r.is_error());
  EXPECT_NE(r.str.find("allow_flush"), std::string::npos) << r.str;
  EXPECT_EQ(c.cmd({"GET", k}).str, "v");
}

TEST_F(Service, FlushdbEmptiesTheDefaultTableAndNeverAMappedOne) {
  auto svc = start_service_with([](config& cfg) { cfg.allow_flush = true; });
  resp_client c(svc->port());
  std::vector<std::string> keys;
  for (int i = 0; i < 1500; ++i) {  // more than one page
    keys.push_back(key());
    c.append({"SET", keys.back(), "v"});
  }
  for (std::size_t i = 0; i < keys.size(); ++i)
    ASSERT_EQ(c.read().str, "OK");
  ASSERT_EQ(c.cmd({"SET", "session:7007", "{\"kept\":true}"}).str, "OK");
  EXPECT_EQ(c.cmd({"FLUSHDB"}).str, "OK");
  EXPECT_EQ(sql("SELECT count(*) FROM wtcache_kv")[0][0].as<int64_t>(), 0);
  EXPECT_TRUE(c.cmd({"GET", keys.front()}).is_nil());
  EXPECT_TRUE(c.cmd({"GET", keys.back()}).is_nil());
  EXPECT_EQ(field(redis_entry(keys.front()), "k"), "t");  // tombstoned, not a stale value
  EXPECT_EQ(c.cmd({"GET", "session:7007"}).str, "{\"kept\": true}");
  EXPECT_EQ(c.cmd({"DBSIZE"}).number,
            sql("SELECT count(*) FROM user_sessions")[0][0].as<int64_t>() +
              sql("SELECT count(*) FROM page_views")[0][0].as<int64_t>() +
              sql("SELECT count(*) FROM shopping_carts")[0][0].as<int64_t>());
  svc->stop();
}

// The reaper deletes expired rows (with a short round, as configured here)
// and leaves their keys tombstoned; a row renewed in time stays.
TEST_F(Service, TheReaperRemovesExpiredRowsAndLeavesTheirKeysTombstoned) {
  auto svc = start_service_with([](config& cfg) { cfg.reap_interval = 50ms; });
  resp_client c(svc->port());
  auto gone = key(), renewed = key();
  ASSERT_EQ(c.cmd({"SET", gone, "v", "PX", "300"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", renewed, "v", "PX", "5000"}).str, "OK");
  ASSERT_EQ(c.cmd({"PERSIST", renewed}).number, 1);
  auto set_at = sql("SELECT version FROM wtcache_kv WHERE key = $1", gone)[0][0].as<int64_t>();
  // Either node's reaper may take it (the suite's service runs one too).
  resp_client suite(port_);
  auto deleted = [&] {
    return std::stoll(info_field(c, "expired_keys")) + std::stoll(info_field(suite, "expired_keys"));
  };
  auto deleted_before = deleted();
  ASSERT_TRUE(eventually(
    [&] { return sql("SELECT 1 FROM wtcache_kv WHERE key = $1", gone).empty(); }, 10s));
  // Counted once the reaper has its answer, just after the COMMIT.
  EXPECT_TRUE(eventually([&] { return deleted() >= deleted_before + 1; }));
  // The reaper's own tombstone: a version above the row's.
  EXPECT_EQ(field(redis_entry(gone), "k"), "t");
  EXPECT_GT(std::stoll(field(redis_entry(gone), "v")), set_at);
  EXPECT_TRUE(c.cmd({"GET", gone}).is_nil());
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key = $1", renewed).size(), 1u);
  EXPECT_EQ(c.cmd({"GET", renewed}).str, "v");
  svc->stop();
}

// WATCH sees a change made through another node: the version is checked
// inside EXEC's transaction, under the rows' locks.
TEST_F(Service, WatchSeesAWriteThroughAnotherNode) {
  auto other = start_service(suite_config());
  resp_client a(port_), b(other->port());
  auto k = key();
  ASSERT_EQ(a.cmd({"SET", k, "0"}).str, "OK");
  ASSERT_EQ(a.cmd({"WATCH", k}).str, "OK");
  ASSERT_EQ(a.cmd({"MULTI"}).str, "OK");
  ASSERT_EQ(a.cmd({"INCR", k}).str, "QUEUED");
  ASSERT_EQ(b.cmd({"SET", k, "10"}).str, "OK");
  auto lost = a.cmd({"EXEC"});
  EXPECT_EQ(lost.kind, reply::nil) << lost;
  EXPECT_EQ(b.cmd({"GET", k}).str, "10");
  // Unchanged since WATCH: it runs.
  ASSERT_EQ(a.cmd({"WATCH", k}).str, "OK");
  ASSERT_EQ(a.cmd({"MULTI"}).str, "OK");
  ASSERT_EQ(a.cmd({"INCR", k}).str, "QUEUED");
  auto won = a.cmd({"EXEC"});
  ASSERT_EQ(won.elements.size(), 1u) << won;
  EXPECT_EQ(won.elements[0].number, 11);
  EXPECT_EQ(b.cmd({"GET", k}).str, "11");
  other->stop();
}

// One transaction over keys of every shard: all rows are written by one
// COMMIT (the suite's service runs no reaper, so the count is exact), and
// a part that fails leaves the others in.
TEST_F(Service, ExecWritesKeysOfEveryShardInOneTransaction) {
  resp_client c(port_);
  std::vector<std::string> keys;
  std::set<std::size_t> shards;
  while (shards.size() < 4) {
    keys.push_back(key());
    shards.insert(shard_of(keys.back(), 4));
  }
  auto bad = key();
  ASSERT_EQ(c.cmd({"SET", bad, "not a number"}).str, "OK");
  auto transactions_before = std::stoll(info_field(c, "db_transactions"));
  ASSERT_EQ(c.cmd({"MULTI"}).str, "OK");
  for (auto& k : keys)
    ASSERT_EQ(c.cmd({"SET", k, "in"}).str, "QUEUED");
  ASSERT_EQ(c.cmd({"INCR", bad}).str, "QUEUED");  // fails alone, as in Redis
  auto r = c.cmd({"EXEC"});
  ASSERT_EQ(r.elements.size(), keys.size() + 1) << r;
  EXPECT_TRUE(r.elements.back().is_error()) << r;
  EXPECT_EQ(c.cmd({"GET", bad}).str, "not a number");
  EXPECT_EQ(std::stoll(info_field(c, "db_transactions")), transactions_before + 1);
  for (auto& k : keys) {
    ASSERT_EQ(sql("SELECT 1 FROM wtcache_kv WHERE key = $1", k).size(), 1u) << k;
    EXPECT_EQ(c.cmd({"GET", k}).str, "in");
  }
}

TEST_F(Service, ExecRefusesWriteBehindKeysAndRunsNothing) {
  resp_client c(port_);
  auto k = key();
  ASSERT_EQ(c.cmd({"MULTI"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", k, "1"}).str, "QUEUED");
  ASSERT_EQ(c.cmd({"SET", "cart:multi", "[1]"}).str, "QUEUED");
  auto r = c.cmd({"EXEC"});
  ASSERT_TRUE(r.is_error()) << r;
  EXPECT_NE(r.str.find("write-behind"), std::string::npos) << r.str;
  EXPECT_TRUE(c.cmd({"GET", k}).is_nil());
  EXPECT_TRUE(c.cmd({"GET", "cart:multi"}).is_nil());
}

// A WATCH whose row could not be read (here PostgreSQL refuses the key:
// user_sessions' key is a bigint) never lets the EXEC after it run
// unchecked, also when the client pipelines it and never looks at its reply.
TEST_F(Service, AFailedWatchMakesTheNextExecFail) {
  resp_client c(port_);
  auto k = key();
  c.append({"WATCH", "session:not-a-number"});
  c.append({"MULTI"});
  c.append({"SET", k, "v"});
  c.append({"EXEC"});
  c.flush();
  EXPECT_TRUE(c.read().is_error());
  EXPECT_EQ(c.read().str, "OK");
  EXPECT_EQ(c.read().str, "QUEUED");
  EXPECT_EQ(c.read().kind, reply::nil);
  EXPECT_TRUE(c.cmd({"GET", k}).is_nil());
  // The EXEC consumed the watches: the next transaction runs.
  ASSERT_EQ(c.cmd({"MULTI"}).str, "OK");
  ASSERT_EQ(c.cmd({"SET", k, "v"}).str, "QUEUED");
  EXPECT_EQ(c.cmd({"EXEC"}).elements.size(), 1u);
  EXPECT_EQ(c.cmd({"GET", k}).str, "v");
}

// A long pipeline of commands that finish at once, queued behind a read:
// answered in order, without one stack frame per command.
TEST_F(Service, ALongPipelineOfUnwatchesBehindAReadIsAnsweredInOrder) {
  resp_client c(port_);
  auto k = key();
  set_then_evict(c, k, "v");
  c.append({"GET", k});  // a miss: the others wait for it
  for (int i = 0; i < 1000; ++i)
    c.append({"UNWATCH"});
  c.flush();
  EXPECT_EQ(c.read().str, "v");
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(c.read().str, "OK") << i;
}
