// wtcached on a Redis Cluster of three masters (tests/support/redis_cluster):
// a node serves both write modes with its keys spread over every master, and
// slots move between masters while clients write and read contended keys,
// judged by the history checker (tests/fault/history.hpp): no acknowledged
// write lost, no stale read, the cache converged to the rows.
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <gtest/gtest.h>

#include "core/key_layout.hpp"
#include "tests/fault/fault_support.hpp"
#include "tests/support/redis_cluster.hpp"

using namespace wtcache;
using namespace wtcache::test;
using namespace wtcache::test::fault;
namespace fs = std::filesystem;

namespace {

class Cluster : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    cluster_ = new redis_cluster;
    cluster_->start(servers::get().dir + "/cluster", 3);
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
  void run(const mode& m, const std::function<void()>& during) {
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
      ASSERT_TRUE(eventually([&] { return l.succeeded() > 200; }, 20s)) << n.log();
      during();
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
    std::printf("  %s on 3 masters: %s\n", m.name, result.summary().c_str());
    for (auto& p : result.problems)
      ADD_FAILURE() << p;
    EXPECT_TRUE(result.ok());
    EXPECT_GT(result.writes_ok, 0u);
    // Convergence: each entry, on the master that serves it now, equals its
    // row (or is absent, or under a mark: a miss to every reader).
    auto owners = slot_owners();
    key_layout layout;
    std::set<uint16_t> holding;
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
      ASSERT_TRUE(rows[k].has_value()) << k << " is cached but has no row";
      auto d = f["d"];
      if (d.size() >= 2 && d.front() == '"' && d.back() == '"')
        d = d.substr(1, d.size() - 2);
      EXPECT_EQ(d, *rows[k]) << k << ": the cache holds another value";
    }
    std::printf("  %s: the 16 keys' entries are on %zu of 3 masters\n", m.name, holding.size());
    EXPECT_GE(holding.size(), 2u);
    EXPECT_EQ(n.stop(), 0) << n.log();
  }

  static redis_cluster* cluster_;
  std::string dir_;
};

redis_cluster* Cluster::cluster_ = nullptr;

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
    std::printf("  master %u holds %lld keys\n", port, count);
    EXPECT_GT(count, 20) << "master " << port;
  }
  EXPECT_EQ(n.stop(), 0) << n.log();
}

// Slots move between masters (their keys migrated one by one, MOVED and ASK
// answered meanwhile) while clients write and read 16 contended keys.
TEST_F(Cluster, ReshardingUnderLoadLosesNoWriteAndReadsNothingStale) {
  for (auto* m : {&write_through, &write_behind}) {
    run(*m, [&] {
      auto masters = cluster_->masters();
      ASSERT_EQ(masters.size(), 3u);
      cluster_->reshard(masters[0], masters[1], 2000);
      cluster_->reshard(masters[1], masters[2], 2000);
      ASSERT_TRUE(cluster_->wait_ok());
    });
  }
}

}  // namespace
