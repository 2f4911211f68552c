// The servers of one test binary: a private redis-server and PostgreSQL,
// started once in a temporary directory on free loopback ports, removed at
// the end. PostgreSQL runs with fsync off: these tests are about wtcached's
// promises, not the disk's.
#pragma once

#include <chrono>
#include <memory>
#include <thread>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "app/config.hpp"
#include "app/embedded_servers.hpp"
#include "core/key_layout.hpp"
#include "tests/support/redis_cluster.hpp"

namespace wtcache::test {

class servers : public ::testing::Environment {
public:
  static servers& get();

  void SetUp() override;
  void TearDown() override;

  std::string redis_url() const { return redis.url(); }
  std::string postgres_url() const { return postgres.url(); }
  uint16_t redis_port() const { return redis.port(); }

  // Stops Redis cleanly (its AOF is complete) / starts it again on the same
  // port with the same data.
  void stop_redis() { redis.stop(); }
  void start_redis() { redis.start(redis.dir(), redis.port()); }
  // The same for PostgreSQL (a fast shutdown: open connections are cut).
  void stop_postgres() { postgres.stop(); }
  void start_postgres() { postgres.start(dir + "/postgres", demo_sql, false, postgres.port()); }

  // A fresh connection to the test database.
  std::unique_ptr<pqxx::connection> connect() const;

  // With WTCACHE_TEST_REDIS=cluster in the environment, the services the
  // tests configure (test_config) use a Redis Cluster of three masters of
  // this binary's own; the single Redis stays up beside it.
  bool on_cluster() const { return cluster != nullptr; }
  // What the services' configuration names: the cluster's seeds or redis_url().
  std::string cache_url() const { return cluster ? cluster->url() : redis_url(); }

  std::string dir;
  embedded_redis redis;
  embedded_postgres postgres;
  std::unique_ptr<redis_cluster> cluster;
};

// Runs SQL with bound parameters and returns the result.
template <class... Ts>
pqxx::result sql(const std::string& query, Ts&&... params) {
  auto c = servers::get().connect();
  pqxx::work tx(*c);
  auto r = tx.exec_params(query, std::forward<Ts>(params)...);
  tx.commit();
  return r;
}

// The text of config/wtcache.toml, the sample configuration.
std::string sample_config_text();

// The sample configuration plus `extra_toml`, pointed at this binary's
// servers, with short timeouts and backoffs and 4 shards; port 0.
config test_config(const std::string& extra_toml = {});

// The Redis key of a client key's cache entry, as the test configuration
// lays keys out (core/key_layout.hpp).
inline std::string cache_key(std::string_view client_key, const std::string& prefix = "wtc:") {
  return key_layout{prefix, 256}.entry(client_key);
}

// The entries a write-behind namespace's queue holds (its counters summed
// over the groups), as Redis says now.
long long queue_depth(const std::string& table, const std::string& prefix = "wtc:");

// Waits for `cond` with a deadline; true when it held in time.
template <class F>
bool eventually(F cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

}  // namespace wtcache::test
