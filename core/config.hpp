// The configuration as one plain struct, passed by value to whoever needs
// it: the service builds each actor's settings from it, and a host program
// that embeds wtcache may fill one in itself. Loading it (command line,
// environment, TOML) is app/config.hpp's job.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/fwd.h>

// Relative: this header is installed (<wtcache/core/config.hpp>).
#include "acl.hpp"
#include "backoff.hpp"
#include "breaker.hpp"
#include "key_layout.hpp"
#include "namespaces.hpp"

namespace wtcache {

// A problem with one configuration field; wtcached prints it and exits 2.
struct config_error : std::runtime_error {
  config_error(const std::string& field, const std::string& what)
    : std::runtime_error(field + ": " + what), field(field) {}
  std::string field;
};

struct config {
  // [server]
  // Embedding: false runs no RESP listener (the typed API still works).
  bool listen_enabled = true;
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 6380;
  // One: the biggest group commits, and with the next transaction going at
  // the last one's COMMIT, two in flight (config/wtcache.toml has figures).
  std::size_t shards = 1;
  std::chrono::milliseconds request_timeout{5000};
  std::size_t max_value_bytes = 16 * 1024 * 1024;
  std::size_t max_pipeline = 1024;  // unanswered commands per connection
  std::size_t max_reply_buffer_bytes = 256 * 1024 * 1024;  // unsent replies per connection
  std::size_t max_batch_ops = 1000;  // operations in one group-commit transaction
  std::size_t max_queued_writes = 10000;  // per shard; beyond it writes get -BUSY
  std::string data_dir = "./var";
  // FLUSHDB/FLUSHALL empty the default table wtcache_kv (and only it).
  bool allow_flush = false;
  // On SIGTERM/SIGINT: how long write-behind queues may take to drain.
  std::chrono::milliseconds shutdown_grace{10000};
  // Security (core/acl.hpp). The default user's password, as its SHA-256
  // hex digest (the loader hashes [server] requirepass); empty: none.
  std::string requirepass_sha256;
  std::vector<user_config> users;  // [[user]]
  // Refuse to listen beyond loopback while no password is set.
  bool protected_mode = true;
  std::size_t maxclients = 10000;  // connections; past it: -ERR max number of clients reached
  std::chrono::seconds idle_timeout{0};  // [server] timeout: close idle clients; 0: never
  // [http] -- /metrics, /healthz, /readyz; listen = "" turns it off
  bool http_enabled = true;
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 9380;
  // [redis] -- an empty url means: start a private redis-server under data_dir
  std::string redis_url;
  std::size_t redis_pool = 2;
  std::string redis_key_prefix = "wtc:";
  // Hash-tag groups of the key layout (core/key_layout.hpp): a power of two
  // from 256; changing it needs empty write-behind queues.
  std::size_t redis_groups = 256;
  // The url names seed nodes of a Redis Cluster (also: redis+cluster://).
  bool redis_cluster = false;
  std::chrono::milliseconds redis_timeout{1000};
  // [postgres] -- an empty url means: start a private PostgreSQL under data_dir
  std::string postgres_url;
  std::size_t postgres_pool = 4;
  std::chrono::milliseconds postgres_timeout{3000};
  // [cache]
  std::chrono::milliseconds default_ttl{std::chrono::hours(1)};
  std::chrono::milliseconds tombstone_ttl{std::chrono::seconds(60)};
  // The reaper (expiry = "value"): rows per round, and the pause after a
  // round that found fewer.
  std::chrono::milliseconds reap_interval{1000};
  std::size_t reap_batch = 500;
  // on_cache_failure: "bypass" (false) acknowledges write-through writes
  // while Redis is down and marks their keys dirty; "fail" (true) refuses them.
  bool refuse_writes_without_cache = false;
  // on_database_failure: "serve-cached" (false) keeps answering cache hits
  // while PostgreSQL is down; "fail" (true) refuses every read then.
  bool refuse_reads_without_database = false;
  // How long a node trusts its last look at wtcache_dirty_keys; a write that
  // had to record its keys there is acknowledged only this long after COMMIT.
  std::chrono::milliseconds dirty_lease{400};
  // [supervisor]
  backoff_policy restart_backoff;
  circuit_breaker::settings breaker;
  // [[namespace]] -- namespaces[0] is the default namespace (wtcache_kv)
  std::vector<namespace_config> namespaces;
  // Embedding: where the service logs; null means spdlog's default logger.
  std::shared_ptr<spdlog::logger> logger;

  // The TTL a namespace's cache entries get.
  key_layout redis_keys() const { return {redis_key_prefix, redis_groups}; }
  std::chrono::milliseconds ttl_of(const namespace_config& ns) const {
    return ns.ttl.count() > 0 ? ns.ttl : default_ttl;
  }
};

// The logger a service with this configuration logs through: cfg.logger,
// else spdlog's default logger (as it is when the service starts).
std::shared_ptr<spdlog::logger> logger_of(const config& cfg);

}  // namespace wtcache
