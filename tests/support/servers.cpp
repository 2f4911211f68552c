// The test binary's private Redis and PostgreSQL, and its configuration.
#include "tests/support/servers.hpp"
#include "tests/support/resp_client.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace wtcache::test {

namespace {
servers* instance = nullptr;
}

servers& servers::get() { return *instance; }

void servers::SetUp() {
  instance = this;
  char tmpl[] = "/tmp/wtcache-test-XXXXXX";
  if (!::mkdtemp(tmpl))
    throw std::runtime_error("mkdtemp failed");
  dir = tmpl;
  ::chmod(dir.c_str(), 0755);
  postgres.start(dir + "/postgres", demo_sql, false);
  redis.start(dir + "/redis");
  if (auto* topology = std::getenv("WTCACHE_TEST_REDIS"); topology && std::string(topology) == "cluster") {
    cluster = std::make_unique<redis_cluster>();
    cluster->start(dir + "/cluster", 3);
    std::printf("the services under test use a Redis Cluster: %s\n", cluster->url().c_str());
  }
}

void servers::TearDown() {
  cluster.reset();
  redis.stop();
  postgres.stop();
  if (!std::getenv("WTCACHE_KEEP_TEST_DIR"))
    std::filesystem::remove_all(dir);
}

std::unique_ptr<pqxx::connection> servers::connect() const {
  return std::make_unique<pqxx::connection>(postgres.url());
}

std::string sample_config_text() {
  std::ifstream in(WTCACHE_SOURCE_DIR "/config/wtcache.toml");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long long queue_depth(const std::string& table, const std::string& prefix) {
  resp_client redis(servers::get().redis_port());
  key_layout layout{prefix, 256};
  long long n = 0;
  for (std::size_t g = 0; g < layout.groups; ++g) {
    auto r = redis.cmd({"HGET", layout.stats(table, g), "n"});
    if (!r.is_nil())
      n += std::stoll(r.str);
  }
  return n;
}

config test_config(const std::string& extra_toml) {
  using namespace std::chrono_literals;
  auto cfg = parse_config_text(sample_config_text() + extra_toml, "test configuration");
  cfg.listen_port = 0;
  cfg.http_port = 0;  // tests run side by side: never the default 9380
  cfg.shards = 4;
  cfg.redis_url = servers::get().cache_url();
  cfg.redis_cluster = servers::get().on_cluster();
  cfg.postgres_url = servers::get().postgres_url();
  cfg.restart_backoff = backoff_policy{20ms, 200ms, 0.2};
  cfg.request_timeout = 2000ms;
  cfg.postgres_timeout = 1000ms;
  cfg.redis_timeout = 500ms;
  // Tests count transactions: a reaper's would come at random. The
  // reaper's own test starts a service that reaps often.
  cfg.reap_interval = 3600s;
  return cfg;
}

// One environment per test binary that links this file.
static auto* const env = ::testing::AddGlobalTestEnvironment(new servers);

}  // namespace wtcache::test
