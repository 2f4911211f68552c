// wtcached on a Redis Cluster of three masters (tests/support/redis_cluster):
// a node serves both write modes with its keys spread over every master, and
// slots move between masters while clients write and read contended keys,
// judged by the history checker (tests/fault/history.hpp): no acknowledged
// write lost, no stale read, the cache converged to the rows.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <gtest/gtest.h>

#include "core/key_layout.hpp"
#include "tests/fault/fault_support.hpp"
#include "tests/support/http.hpp"
#include "tests/support/redis_cluster.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace wtcache::test::fault;
namespace fs = std::filesystem;

namespace {

// The scenario's name, which begins each line of figures it prints
// ("  [Name] ..."): scripts/test gathers them from ctest's log.
const char* scenario() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

// Three masters, each with `Replicas` replicas: a cluster per suite.
template <int Replicas>
class ClusterOf : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    cluster_ = new redis_cluster;
    cluster_->start(servers::get().dir + "/cluster-" + std::to_string(Replicas), 3, Replicas);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    dir_ = servers::get().dir + "/cluster-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
    ASSERT_TRUE(cluster_->wait_ok());
  }

  // Which master serves each slot, as the cluster says now.
  static std::map<uint16_t, uint16_t> slot_owners() {
    std::map<uint16_t, uint16_t> owner;
    resp_client c(cluster_->masters().front());
    auto r = c.cmd({"CLUSTER", "SLOTS"});
    for (auto& range : r.elements)
      for (auto s = range.elements[0].number; s <= range.elements[1].number; ++s)
        owner[static_cast<uint16_t>(s)] = static_cast<uint16_t>(range.elements[2].elements[1].number);
    return owner;
  }

  // A command on the master of `key`'s slot.
  static reply on_master(const std::map<uint16_t, uint16_t>& owners,
                         const std::vector<std::string>& args, const std::string& key) {
    resp_client c(owners.at(key_slot(key)));
    return c.cmd(args);
  }

  // Entries queued in write-behind table `table`, over its groups.
  static long long cluster_queue_depth(const std::string& table) {
    auto owners = slot_owners();
    key_layout layout;
    long long n = 0;
    for (std::size_t g = 0; g < layout.groups; ++g) {
      auto stats = layout.stats(table, g);
      auto r = on_master(owners, {"HGET", stats, "n"}, stats);
      if (r.kind == reply::bulk)
        n += std::stoll(r.str);
    }
    return n;
  }

  // Load on one node over the cluster; `during` runs while it goes on; then
  // quiescence, the history checked, the cache compared with the rows.
  // `may_lose`: a loss the README owns (a failover in write-behind mode) is
  // counted and printed, not failed.
  check_result run(const mode& m, const std::function<void(node&)>& during,
                   bool may_lose = false) {
    node n(dir_, "a");
    n.use_redis(cluster_->url());
    n.start();
    std::vector<std::string> keys;
    auto* name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (int i = 0; i < 16; ++i)
      keys.push_back(m.prefix + name + std::to_string(i));
    history h;
    {
      load l(h, {&n}, keys, m.encode, 4);
      EXPECT_TRUE(eventually([&] { return l.succeeded() > 200; }, 20s)) << n.log();
      during(n);
      auto after = l.succeeded();
      EXPECT_TRUE(eventually([&] { return l.succeeded() > after + 200; }, 30s)) << n.log();
      l.stop();
    }
    EXPECT_TRUE(eventually([&] { return n.info("dirty_keys") == 0; }, 30s)) << n.log();
    EXPECT_TRUE(eventually([&] { return sql("SELECT 1 FROM wtcache_dirty_keys").empty(); }, 30s));
    EXPECT_TRUE(eventually([&] { return cluster_queue_depth("shopping_carts") == 0; }, 30s))
      << n.log();
    std::map<std::string, std::optional<std::string>> rows;
    for (auto& k : keys) {
      auto id = m.prefix.rfind("cart:", 0) == 0 ? k.substr(5) : k;
      auto r = sql(m.row_sql, id);
      rows[k] = r.empty() ? std::nullopt : std::optional<std::string>(r[0][0].as<std::string>());
    }
    auto result = check(h.operations(), rows);
    std::printf("  [%s] %s on 3 masters: %s\n", scenario(), m.name, result.summary().c_str());
    if (!may_lose) {
      for (auto& p : result.problems)
        ADD_FAILURE() << p;
      EXPECT_TRUE(result.ok());
    } else {
      for (auto& p : result.problems)
        std::printf("    (owned by the README) %s\n", p.c_str());
      EXPECT_EQ(result.reads_of_failed_writes, 0u);
    }
    EXPECT_GT(result.writes_ok, 0u);
    // Convergence: each entry, on the master that serves it now, equals its
    // row (or is absent, or under a mark: a miss to every reader).
    auto owners = slot_owners();
    key_layout layout;
    std::set<uint16_t> holding;
    int diverged = 0;
    for (auto& k : keys) {
      auto entry = layout.entry(k);
      auto e = on_master(owners, {"HGETALL", entry}, entry);
      std::map<std::string, std::string> f;
      for (std::size_t i = 0; i + 1 < e.elements.size(); i += 2)
        f[e.elements[i].str] = e.elements[i + 1].str;
      if (!f.empty())
        holding.insert(owners.at(key_slot(entry)));
      bool marked = !f["p"].empty() && f["p"] != "0";
      if (f.empty() || f["k"] != "v" || marked)
        continue;
      auto d = f["d"];
      if (d.size() >= 2 && d.front() == '"' && d.back() == '"')
        d = d.substr(1, d.size() - 2);
      if (!rows[k] || d != *rows[k]) {
        ++diverged;
        std::printf("    %s: the cache holds %s, the row %s\n", k.c_str(), d.c_str(),
                    rows[k] ? rows[k]->c_str() : "(none)");
      }
    }
    // Even after a loss: what was lost is lost from the row and the cache
    // alike, and an entry older than its row is a tombstone (settle.lua).
    EXPECT_EQ(diverged, 0) << "the cache did not converge to the rows";
    std::printf("  [%s] %s: the 16 keys' entries are on %zu of 3 masters; %d differ from "
                "their rows\n",
                scenario(), m.name, holding.size(), diverged);
    EXPECT_GE(holding.size(), 2u);
    std::printf("  [%s] %s: the cache reader connected %lld times, %lld redirections followed\n",
                scenario(), m.name, n.info("cache_reader_connections"),
                n.info("redis_cluster_redirections"));
    EXPECT_EQ(n.stop(), 0) << n.log();
    return result;
  }

  static redis_cluster* cluster_;
  std::string dir_;
};

template <int Replicas>
redis_cluster* ClusterOf<Replicas>::cluster_ = nullptr;

using Cluster = ClusterOf<0>;
using ClusterWithReplicas = ClusterOf<1>;

// As a new user would: wtcached pointed at the cluster's seed nodes serves
// write-through and write-behind keys, and the entries are on every master.
TEST_F(Cluster, ANodeServesBothModesWithItsKeysOnEveryMaster) {
  node n(dir_, "a");
  n.use_redis(cluster_->url());
  n.start();
  resp_client c(n.port());
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(c.cmd({"SET", "plain:" + std::to_string(i), "s" + std::to_string(i)}).str, "OK");
    ASSERT_EQ(c.cmd({"SET", "cart:c" + std::to_string(i), "[" + std::to_string(i) + "]"}).str, "OK");
  }
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(c.cmd({"GET", "plain:" + std::to_string(i)}).str, "s" + std::to_string(i));
    EXPECT_EQ(c.cmd({"GET", "cart:c" + std::to_string(i)}).str, "[" + std::to_string(i) + "]");
  }
  // A multi-key write-through command spans slots (PostgreSQL makes it one
  // transaction); a write-behind one must keep to one hash tag, as on Redis
  // Cluster itself.
  EXPECT_EQ(c.cmd({"MSET", "plain:a", "1", "plain:b", "2"}).str, "OK");
  auto crossing = c.cmd({"MSET", "cart:a", "[1]", "cart:b", "[2]"});
  EXPECT_TRUE(crossing.is_error());
  EXPECT_EQ(crossing.str.rfind("CROSSSLOT", 0), 0u) << crossing.str;
  EXPECT_TRUE(c.cmd({"GET", "cart:a"}).is_nil());
  EXPECT_EQ(c.cmd({"MSET", "cart:{u1}a", "[1]", "cart:{u1}b", "[2]"}).str, "OK");
  EXPECT_TRUE(eventually([&] { return cluster_queue_depth("shopping_carts") == 0; }, 20s));
  EXPECT_EQ(sql("SELECT 1 FROM shopping_carts WHERE cart_id LIKE 'c%'").size(), 100u);
  std::map<uint16_t, long long> keys_on;
  for (auto p : cluster_->masters()) {
    resp_client m(p);
    keys_on[p] = m.cmd({"DBSIZE"}).number;
  }
  ASSERT_EQ(keys_on.size(), 3u);
  for (auto& [port, count] : keys_on) {
    std::printf("  [%s] master %u holds %lld keys\n", scenario(), port, count);
    EXPECT_GT(count, 20) << "master " << port;
  }
  // The cache reader reads the hits, over a connection to each master.
  EXPECT_TRUE(eventually([&] { return info_field(c.cmd({"INFO"}).str, "cache_reader") == "up"; }, 10s));
  for (auto p : cluster_->masters()) {
    resp_client m(p);
    EXPECT_NE(m.cmd({"CLIENT", "LIST"}).str.find("name=wtcache-reader"), std::string::npos)
      << "master " << p;
  }
  // The cluster's state, as INFO, /metrics and wtcached check report it.
  EXPECT_TRUE(eventually([&] { return n.info("redis_cluster_masters_reachable") == 3; }, 10s))
    << c.cmd({"INFO", "backends"}).str;
  auto info = c.cmd({"INFO", "backends"}).str;
  EXPECT_EQ(info_field(info, "redis_topology"), "cluster") << info;
  EXPECT_EQ(info_field(info, "redis_cluster_state"), "ok") << info;
  EXPECT_EQ(info_field(info, "redis_cluster_slots_ok"), "16384") << info;
  EXPECT_EQ(info_field(info, "redis_cluster_masters"), "3") << info;
  EXPECT_GE(std::stoll(info_field(info, "redis_cluster_slot_map_loads")), 1) << info;
  auto metrics = http_get(n.http_port(), "/metrics").body;
  EXPECT_EQ(metric(metrics, "wtcache_redis_cluster_state_ok"), 1) << metrics;
  EXPECT_EQ(metric(metrics, "wtcache_redis_cluster_slots_ok"), 16384);
  EXPECT_EQ(metric(metrics, "wtcache_redis_cluster_masters_reachable"), 3);
  EXPECT_GE(metric(metrics, "wtcache_redis_cluster_redirections_total"), 0);
  std::string lint;
  EXPECT_EQ(promtool_check_metrics(metrics, lint), 0) << lint;
  auto conf = dir_ + "/check.toml";
  std::ofstream(conf) << fault_config();
  auto log = dir_ + "/check.log";
  run_command({WTCACHED_PATH, "check", "--config", conf, "--redis", cluster_->url(), "--postgres",
               servers::get().postgres_url()},
              log);
  auto said = slurp(log);
  std::printf("%s", said.c_str());
  EXPECT_NE(said.find("redis     ok     redis+cluster://"), std::string::npos) << said;
  EXPECT_NE(said.find("(Redis Cluster, state ok: 16384 of 16384 slots served, 3 masters"),
            std::string::npos)
    << said;
  EXPECT_NE(said.find("all checks passed"), std::string::npos) << said;
  EXPECT_EQ(n.stop(), 0) << n.log();
}

// Slots move between masters (their keys migrated one by one, MOVED and ASK
// answered meanwhile) while clients write and read 16 contended keys.
TEST_F(Cluster, ReshardingUnderLoadLosesNoWriteAndReadsNothingStale) {
  for (auto* m : {&write_through, &write_behind}) {
    run(*m, [&](node&) {
      auto masters = cluster_->masters();
      ASSERT_EQ(masters.size(), 3u);
      cluster_->reshard(masters[0], masters[1], 2000);
      cluster_->reshard(masters[1], masters[2], 2000);
      ASSERT_TRUE(cluster_->wait_ok());
    });
  }
}

// A key (`stem` and a number) whose cache entry is on the master on `port`.
std::string key_on(const std::map<uint16_t, uint16_t>& owners, uint16_t port,
                   const std::string& stem) {
  key_layout layout;
  for (int i = 0;; ++i) {
    auto k = stem + std::to_string(i);
    if (owners.at(key_slot(layout.entry(k))) == port)
      return k;
  }
}

// A master killed and, after a while, restarted (no replicas: the cluster
// is down meanwhile, each master refusing with CLUSTERDOWN once it has seen
// the other fail): write-through writes go on committing (bypassing the
// cache, the keys dirty) and reads, the down slots' included, are
// PostgreSQL's; after the restart the cache converges.
TEST_F(Cluster, AMasterKilledAndRestartedWriteThroughGoesOn) {
  run(write_through, [&](node& n) {
    auto owners = slot_owners();
    auto victim = cluster_->masters().front();
    auto away = key_on(owners, victim, "ft:away");
    resp_client c(n.port());
    ASSERT_EQ(c.cmd({"SET", away, "before"}).str, "OK");
    cluster_->node(cluster_->index_of(victim)).kill();
    // On: writes commit and reads are answered, while the master is away.
    EXPECT_EQ(c.cmd({"SET", away, "while-away"}).str, "OK");
    EXPECT_EQ(c.cmd({"GET", away}).str, "while-away");
    EXPECT_EQ(sql(write_through.row_sql, away).at(0)[0].as<std::string>(), "while-away");
    // Long enough for every master to have seen it fail (node timeout 1.5 s).
    EXPECT_TRUE(eventually([&] { return !cluster_->ok(); }, 10s));
    auto before = n.info("cache_write_failures");
    auto ops = 0;
    for (; ops < 50; ++ops)
      ASSERT_EQ(c.cmd({"SET", away, "away-" + std::to_string(ops)}).str, "OK");
    EXPECT_EQ(c.cmd({"GET", away}).str, "away-49");
    std::printf("  [%s] master %u away: %d more writes of its key committed (%lld cache updates "
                "failed or bypassed meanwhile)\n", scenario(),
                victim, ops, n.info("cache_write_failures") - before);
    cluster_->restart(cluster_->index_of(victim));
    ASSERT_TRUE(cluster_->wait_ok());
    EXPECT_TRUE(eventually([&] { return n.info("dirty_keys") == 0; }, 30s)) << n.log();
    EXPECT_EQ(c.cmd({"GET", away}).str, "away-49");
  });
}

// CLUSTER FAILOVER at a replica during load: the replica takes over once it
// has every write of its master, so no mode loses anything.
TEST_F(ClusterWithReplicas, AManualFailoverKeepsEveryPromise) {
  std::set<uint16_t> involved;  // each round fails over a pair not failed over before
  for (auto* m : {&write_through, &write_behind}) {
    run(*m, [&](node&) {
      uint16_t master = 0;
      for (auto p : cluster_->masters())
        if (!master && !involved.count(p))
          master = p;
      ASSERT_NE(master, 0);
      auto replicas = cluster_->replicas_of(master);
      ASSERT_FALSE(replicas.empty());
      auto replica = replicas.front();
      involved.insert({master, replica});
      auto taken_over = [&] {
        auto now = cluster_->masters();
        return std::find(now.begin(), now.end(), replica) != now.end() &&
               std::find(now.begin(), now.end(), master) == now.end();
      };
      // A manual failover that does not complete in 5 s is aborted by
      // Redis; an operator asks again.
      int asked = 0;
      for (; asked < 4 && !taken_over(); ++asked) {
        resp_client r(replica);
        ASSERT_EQ(r.cmd({"CLUSTER", "FAILOVER"}).str, "OK");
        eventually(taken_over, 8s);
      }
      ASSERT_TRUE(taken_over()) << "asked " << asked << " times";
      ASSERT_TRUE(cluster_->wait_ok());
      std::printf("  [%s] %s: master %u failed over to its replica %u (asked %d times)\n",
                  scenario(), m->name, master, replica, asked);
    });
  }
}

// A master killed, its replica taking over after the node timeout; the old
// master restarted comes back as a replica. Replication is asynchronous:
// in write-behind mode what the replica had not received is lost (the
// README says so); the figures are printed.
TEST_F(ClusterWithReplicas, AMasterKilledFailsOverToItsReplica) {
  for (auto* m : {&write_through, &write_behind}) {
    bool behind = m == &write_behind;
    auto result = run(
      *m,
      [&](node& n) {
        auto owners = slot_owners();
        auto master = cluster_->masters().front();
        auto replicas = cluster_->replicas_of(master);
        ASSERT_FALSE(replicas.empty());
        auto killed = std::chrono::steady_clock::now();
        cluster_->node(cluster_->index_of(master)).kill();
        EXPECT_TRUE(eventually(
          [&] {
            auto now = cluster_->masters();
            return std::find(now.begin(), now.end(), replicas.front()) != now.end();
          },
          30s));
        auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - killed);
        ASSERT_TRUE(cluster_->wait_ok());
        // The dead master answers no MOVED: wtcached must find the slots'
        // new master itself. A key of the dead master's is written and its
        // entry is at the replica, the old master still down.
        auto moved = key_on(owners, master, m->prefix + "after");
        auto entry = key_layout{}.entry(moved);
        resp_client c(n.port());
        int tries = 0;
        auto at_replica = [&] {
          auto value = "after" + std::to_string(++tries);
          if (c.cmd({"SET", moved, m->encode(value)}).str != "OK")
            return false;
          resp_client r(replicas.front());
          auto d = r.cmd({"HGET", entry, "d"}).str;
          return d == value || d == "\"" + value + "\"";
        };
        EXPECT_TRUE(eventually(at_replica, 15s)) << "tried " << tries << " times; " << n.log();
        cluster_->restart(cluster_->index_of(master));
        ASSERT_TRUE(cluster_->wait_ok());
        std::printf("  [%s] %s: master %u killed, its replica %u took over in %lld ms\n",
                    scenario(), m->name, master, replicas.front(),
                    static_cast<long long>(took.count()));
      },
      behind);
    std::printf("  [%s] %s after a failover: %llu acknowledged writes lost, %llu stale reads\n",
                scenario(), m->name, static_cast<unsigned long long>(result.lost_writes),
                static_cast<unsigned long long>(result.stale_reads));
  }
}

}  // namespace
