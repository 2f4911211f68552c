// The fault-injection suite: real redis-server, PostgreSQL and wtcached
// processes; concurrent clients on a few contended keys; a fault injected
// mid-load and healed; then the history and the final state are checked
// (tests/fault/history.hpp): no acknowledged write lost, no stale read, the
// cache converged to the rows, write-behind queues empty, the service up.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "app/embedded_servers.hpp"
#include "tests/fault/fault_support.hpp"
#include "tests/fault/history.hpp"
#include "tests/support/http.hpp"
#include "tests/support/resp_client.hpp"
#include "tests/support/servers.hpp"
#include "tests/support/text.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace wtcache::test::fault;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using steady = std::chrono::steady_clock;

class Fault : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = servers::get().dir + "/fault-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }

  std::vector<std::string> keys_of(const mode& m) {
    std::vector<std::string> keys;
    auto* name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (int i = 0; i < 6; ++i)
      keys.push_back(m.prefix + name + std::to_string(i));
    return keys;
  }

  // Load on `nodes`; after some traffic `inject`, let the load run into the
  // fault, `heal`, wait until the service answers again, stop, check.
  void run(const mode& m, std::vector<node*> nodes, const std::function<void()>& inject,
           const std::function<void()>& heal, bool mixed = false) {
    auto keys = keys_of(m);
    history h;
    std::vector<const node*> targets(nodes.begin(), nodes.end());
    load l(h, targets, keys, m.encode, 4, mixed);
    ASSERT_TRUE(eventually([&] { return l.succeeded() > 200; }, 20s));
    inject();
    auto at_fault = l.completed();
    // Let the clients run into the fault (their requests fail or time out)
    // for a while: 150 operations, or 3 seconds when they block on it.
    eventually([&] { return l.completed() > at_fault + 150; }, 3s);
    heal();
    auto healed = l.succeeded();
    EXPECT_TRUE(eventually([&] { return l.succeeded() > healed + 200; }, 30s))
      << "the service did not recover; log:\n" << nodes.front()->log();
    l.stop();

    // Quiescence: dirty keys invalidated, write-behind queues drained.
    for (auto* n : nodes) {
      if (n->running()) {
        EXPECT_TRUE(eventually([&] { return n->info("dirty_keys") == 0; }, 30s)) << n->log();
      }
    }
    // No key is left recorded as dirty for the other nodes.
    EXPECT_TRUE(eventually([&] { return sql("SELECT 1 FROM wtcache_dirty_keys").empty(); }, 30s))
      << nodes.front()->log();
    // The queue's own counter in Redis, not a node's last look at it.
    EXPECT_TRUE(eventually([&] { return queued_entries() == 0; }, 30s)) << nodes.front()->log();
    std::map<std::string, std::optional<std::string>> rows;
    for (auto& k : keys) {
      auto id = m.prefix.rfind("cart:", 0) == 0 ? k.substr(5) : k;
      auto r = sql(m.row_sql, id);
      rows[k] = r.empty() ? std::nullopt : std::optional<std::string>(r[0][0].as<std::string>());
    }
    auto result = check(h.operations(), rows);
    std::printf("  [%s] %s: %s\n", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                m.name, result.summary().c_str());
    for (auto& p : result.problems)
      ADD_FAILURE() << p;
    EXPECT_TRUE(result.ok());
    EXPECT_GT(result.writes_ok, 0u);

    // Convergence: every cache entry equals its row (or is absent). An
    // entry still under a mark is a miss to every reader: a value sent
    // beside a COMMIT that the fault cut stays in it, unread, until the
    // mark lapses.
    resp_client redis(servers::get().redis_port());
    for (auto& k : keys) {
      auto e = redis.cmd({"HGETALL", cache_key(k)});
      std::map<std::string, std::string> f;
      std::string entry;
      for (std::size_t i = 0; i + 1 < e.elements.size(); i += 2) {
        f[e.elements[i].str] = e.elements[i + 1].str;
        entry += " " + e.elements[i].str + "=" + e.elements[i + 1].str;
      }
      bool marked = !f["p"].empty() && f["p"] != "0";
      if (f.empty() || f["k"] != "v" || marked)
        continue;
      EXPECT_TRUE(rows[k].has_value()) << k << " is cached but has no row:" << entry;
      if (rows[k]) {
        EXPECT_EQ(load_decode(f["d"]), *rows[k]) << k << ": the cache holds another value:" << entry;
      }
    }
    // Still up and answering.
    for (auto* n : nodes)
      if (n->running()) {
        resp_client c(n->port());
        EXPECT_EQ(c.cmd({"PING"}).str, "PONG");
      }
  }

  static long long queued_entries() {
    return queue_depth("shopping_carts");
  }

  static std::string load_decode(const std::string& v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
      return v.substr(1, v.size() - 2);
    return v;
  }

  std::string dir_;
};

}  // namespace

TEST_F(Fault, RedisPausedWithSigstop) {
  node n(dir_, "a");
  n.start();
  run(write_through, {&n}, [] { servers::get().redis.pause(); },
      [] { servers::get().redis.resume(); });
}

TEST_F(Fault, RedisKilledAndRestarted) {
  node n(dir_, "a");
  n.start();
  run(write_through, {&n}, [] { servers::get().redis.kill(); },
      [] { servers::get().start_redis(); });
}

TEST_F(Fault, PostgresKilledAndRestarted) {
  node n(dir_, "a");
  n.start();
  run(write_through, {&n}, [] { servers::get().postgres.kill(); },
      [] { servers::get().start_postgres(); });
}

// PostgreSQL stops answering without closing anything: every statement in
// flight hangs. Writes get an answer by their deadline (the shard gives up
// on the transaction its worker never answers), and all is well after.
// SET's relatives and MULTI/EXEC over two keys (of different shards, as
// often as not) while PostgreSQL is killed: every acknowledged EXEC is in,
// every refused one is not, and no read goes back.
TEST_F(Fault, PostgresKilledDuringMixedWritesAndTransactions) {
  node n(dir_, "a");
  n.start();
  run(write_through, {&n}, [] { servers::get().postgres.kill(); },
      [] { servers::get().start_postgres(); }, true);
}

TEST_F(Fault, RedisKilledDuringMixedWritesAndTransactions) {
  node n(dir_, "a");
  n.start();
  run(write_through, {&n}, [] { servers::get().redis.kill(); },
      [] { servers::get().start_redis(); }, true);
}

TEST_F(Fault, PostgresPausedWithSigstop) {
  node n(dir_, "a");
  n.start();
  run(write_through, {&n}, [] { servers::get().postgres.pause(); },
      [] { servers::get().postgres.resume(); });
}

TEST_F(Fault, RedisConnectionsDroppedByClientKill) {
  node n(dir_, "a");
  n.start();
  run(write_through, {&n},
      [] {
        resp_client admin(servers::get().redis_port());
        admin.cmd({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
      },
      [] {});
}

TEST_F(Fault, PostgresBackendsTerminated) {
  node n(dir_, "a");
  n.start();
  run(write_through, {&n},
      [] {
        sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 'wtcache' AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
      },
      [] {});
}

TEST_F(Fault, ServiceKilledAndRestartedWriteThrough) {
  node n(dir_, "a");
  n.start();
  run(write_through, {&n}, [&] { n.kill(); }, [&] { n.start(); });
}

TEST_F(Fault, ServiceKilledAndRestartedWriteBehind) {
  node n(dir_, "a");
  n.start();
  run(write_behind, {&n}, [&] { n.kill(); }, [&] { n.start(); });
}

TEST_F(Fault, TwoNodesThenOneKilled) {
  node a(dir_, "a"), b(dir_, "b");
  a.start();
  b.start();
  run(write_through, {&a, &b}, [&] { b.kill(); }, [&] { b.start(); });
}

// PostgreSQL down: after a few failures the breaker opens and write-through
// writes fail fast with a clear error; cached reads are still served; when
// PostgreSQL is back the breaker closes by itself. (The writes go to another
// key: the first of them may end "outcome unknown", COMMIT being in the
// round trip that the crash cut, and a key written with an unknown outcome
// is read from PostgreSQL, never from a copy it may have made stale.)
TEST_F(Fault, WithPostgresDownWritesFailFastAndCachedReadsGoOn) {
  node n(dir_, "a");
  n.start();
  resp_client c(n.port());
  ASSERT_EQ(c.cmd({"SET", "ft:cached", "v1"}).str, "OK");
  servers::get().postgres.kill();
  reply r;
  for (int i = 0; i < 20 && r.str.find("circuit open") == std::string::npos; ++i)
    r = c.cmd({"SET", "ft:tried", "v2"});
  EXPECT_NE(r.str.find("TRYAGAIN postgres unavailable: circuit open"), std::string::npos) << r.str;
  auto start = steady::now();
  r = c.cmd({"SET", "ft:other", "x"});
  auto took = steady::now() - start;
  EXPECT_TRUE(r.is_error());
  EXPECT_LT(took, 500ms) << "an open breaker answers at once, not after a timeout";
  EXPECT_EQ(c.cmd({"GET", "ft:cached"}).str, "v1");  // served from the cache
  EXPECT_EQ(n.info("breaker_postgres") == -1, true);  // a word, not a number
  {
    resp_client i(n.port());
    auto text = i.cmd({"INFO"}).str;
    EXPECT_NE(text.find("breaker_postgres:open"), std::string::npos) << text;
  }
  servers::get().start_postgres();
  EXPECT_TRUE(eventually([&] { return c.cmd({"SET", "ft:cached", "v3"}).str == "OK"; }, 20s));
  EXPECT_EQ(sql("SELECT convert_from(value, 'UTF8') FROM wtcache_kv WHERE key = 'ft:cached'")[0][0]
              .as<std::string>(),
            "v3");
  EXPECT_NE(n.log().find("postgres circuit closed"), std::string::npos) << n.log();
}

// on_cache_failure = "fail": once Redis is known to be down, write-through
// writes are refused (nothing written) rather than leave the cache behind.
TEST_F(Fault, WithTheFailPolicyWritesAreRefusedWhileRedisIsDown) {
  node n(dir_, "a", replace_once(fault_config(), "on_cache_failure = \"bypass\"",
                                 "on_cache_failure = \"fail\""));
  n.start();
  resp_client c(n.port());
  ASSERT_EQ(c.cmd({"SET", "ft:policy", "before"}).str, "OK");
  servers::get().redis.kill();
  reply r;
  for (int i = 0; i < 20 && r.str.find("TRYAGAIN redis unavailable") == std::string::npos; ++i)
    r = c.cmd({"SET", "ft:policy-" + std::to_string(i), "x"});
  EXPECT_NE(r.str.find("TRYAGAIN redis unavailable"), std::string::npos) << r.str;
  EXPECT_TRUE(c.cmd({"SET", "ft:policy", "refused"}).is_error());
  EXPECT_EQ(sql("SELECT convert_from(value, 'UTF8') FROM wtcache_kv WHERE key = 'ft:policy'")[0][0]
              .as<std::string>(),
            "before");
  servers::get().start_redis();
  EXPECT_TRUE(eventually([&] { return c.cmd({"SET", "ft:policy", "after"}).str == "OK"; }, 20s));
  EXPECT_EQ(c.cmd({"GET", "ft:policy"}).str, "after");
}

// /readyz follows the backends: unready (503, saying why) while Redis is
// stopped, even with no traffic, and ready again once it is back.
TEST_F(Fault, ReadinessTurnsUnreadyWhileRedisIsStoppedAndReadyAfter) {
  node n(dir_, "a");
  n.start();
  auto ready = http_get(n.http_port(), "/readyz");
  ASSERT_EQ(ready.status, 200) << ready.body;
  servers::get().redis.kill();
  http_reply down;
  EXPECT_TRUE(eventually([&] {
    down = http_get(n.http_port(), "/readyz");
    return down.status == 503;
  }, 20s)) << down.body;
  EXPECT_NE(down.body.find("\"ready\":false"), std::string::npos) << down.body;
  EXPECT_NE(down.body.find("\"reasons\":[\"redis: "), std::string::npos) << down.body;
  EXPECT_NE(down.body.find("\"postgres\":{\"reachable\":true"), std::string::npos) << down.body;
  EXPECT_EQ(http_get(n.http_port(), "/healthz").status, 200);  // alive all along
  servers::get().start_redis();
  EXPECT_TRUE(eventually([&] { return http_get(n.http_port(), "/readyz").status == 200; }, 30s));
}

// on_database_failure = "fail": with PostgreSQL known to be down, even cache
// hits are refused.
TEST_F(Fault, WithTheFailPolicyReadsAreRefusedWhilePostgresIsDown) {
  node n(dir_, "a", replace_once(fault_config(), "on_database_failure = \"serve-cached\"",
                                 "on_database_failure = \"fail\""));
  n.start();
  resp_client c(n.port());
  ASSERT_EQ(c.cmd({"SET", "ft:strict", "v1"}).str, "OK");
  servers::get().postgres.kill();
  reply r;
  for (int i = 0; i < 20 && r.str.find("circuit open") == std::string::npos; ++i)
    r = c.cmd({"SET", "ft:strict", "v2"});
  auto g = c.cmd({"GET", "ft:strict"});
  EXPECT_EQ(g.str.rfind("TRYAGAIN postgres unavailable", 0), 0u) << g.str;
  servers::get().start_postgres();
  EXPECT_TRUE(eventually([&] { return c.cmd({"GET", "ft:strict"}).str == "v1"; }, 20s));
}

// Two nodes and a Redis pause. Node A's write commits while Redis does not
// answer: its tombstone before COMMIT times out, so the key is recorded in
// wtcache_dirty_keys and the reply waits one lease. Once Redis answers again
// node B must not serve the older cached value: it learned of the key from
// its dirty-key watch, or its lease ran out and it reads PostgreSQL.
TEST_F(Fault, TwoNodesWithRedisPaused) {
  node a(dir_, "a"), b(dir_, "b");
  a.start();
  b.start();
  run(write_through, {&a, &b}, [] { servers::get().redis.pause(); },
      [] { servers::get().redis.resume(); });
  EXPECT_GT(a.info("writes_recorded") + b.info("writes_recorded"), 0)
    << "the scenario should make some write record its keys";
}

// The same, one step at a time: node A acknowledges a write while Redis is
// paused (no tombstone could go in) and dies before it could retry. Once
// Redis answers again, node B must not serve the value it cached before: it
// learned the key from wtcache_dirty_keys, invalidates it and deletes the
// record.
TEST_F(Fault, AWriteRecordedWhileRedisWasPausedIsSeenByAnotherNodeAfterTheWriterDied) {
  node a(dir_, "a"), b(dir_, "b");
  a.start();
  b.start();
  // Quotes, a backslash, braces and a comma: the key goes into a text[] literal.
  const std::string k = "ft:rec \"o\\r{d},ed";
  resp_client ca(a.port()), cb(b.port());
  ASSERT_EQ(cb.cmd({"SET", k, "v1"}).str, "OK");
  ASSERT_EQ(cb.cmd({"GET", k}).str, "v1");
  resp_client redis(servers::get().redis_port());
  ASSERT_EQ(redis.cmd({"HGET", cache_key(k), "d"}).str, "v1");  // cached

  servers::get().redis.pause();
  ASSERT_EQ(ca.cmd({"SET", k, "v2"}).str, "OK");
  EXPECT_EQ(sql("SELECT 1 FROM wtcache_dirty_keys WHERE key = $1", k).size(), 1u);
  EXPECT_EQ(a.info("writes_recorded"), 1);
  a.kill();
  servers::get().redis.resume();

  EXPECT_EQ(cb.cmd({"GET", k}).str, "v2");
  EXPECT_TRUE(eventually([&] { return sql("SELECT 1 FROM wtcache_dirty_keys WHERE key = $1", k).empty(); }, 10s))
    << b.log();
  EXPECT_EQ(cb.cmd({"GET", k}).str, "v2");
  // The tombstone is in, and a read filled the new value over it.
  EXPECT_TRUE(eventually([&] {
    cb.cmd({"GET", k});
    return redis.cmd({"HGET", cache_key(k), "d"}).str == "v2";
  }, 10s));
}
