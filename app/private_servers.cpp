// Private redis-server and PostgreSQL for the configuration's empty URLs.
#include "app/private_servers.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "app/embedded_servers.hpp"
#include "core/logger_ref.hpp"

namespace wtcache {

struct private_servers::impl {
  std::unique_ptr<embedded_redis> redis;
  std::unique_ptr<embedded_postgres> postgres;
};

private_servers::private_servers() : impl_(std::make_unique<impl>()) {}

private_servers::~private_servers() { stop(); }

std::unique_ptr<private_servers> private_servers::start(config& cfg, bool with_redis) {
  namespace fs = std::filesystem;
  logger_ref log = logger_of(cfg);
  std::unique_ptr<private_servers> s(new private_servers);
  if (cfg.postgres_url.empty()) {
    auto dir = (fs::path(cfg.data_dir) / "postgres").string();
    log->info("starting embedded PostgreSQL in {}", dir);
    s->impl_->postgres = std::make_unique<embedded_postgres>();
    s->impl_->postgres->start(dir, demo_sql);
    cfg.postgres_url = s->impl_->postgres->url();
  }
  if (with_redis && cfg.redis_url.empty()) {
    auto dir = (fs::path(cfg.data_dir) / "redis").string();
    log->info("starting embedded redis-server in {}", dir);
    s->impl_->redis = std::make_unique<embedded_redis>();
    s->impl_->redis->start(dir);
    cfg.redis_url = s->impl_->redis->url();
  }
  return s;
}

bool private_servers::runs_redis() const { return impl_->redis != nullptr; }
bool private_servers::runs_postgres() const { return impl_->postgres != nullptr; }

void private_servers::stop() {
  if (impl_->postgres)
    impl_->postgres->stop();
  if (impl_->redis)
    impl_->redis->stop();
  impl_->postgres.reset();
  impl_->redis.reset();
}

}  // namespace wtcache
