// wtcache embedded in a host program: the write-through (or write-behind)
// cache in front of PostgreSQL, running inside the host's own
// caf::actor_system. Installed as <wtcache/app/service.hpp>;
// <wtcache/wtcache.hpp> includes it with the typed API and the clients.
//
//   caf::actor_system_config cfg;
//   wtcache::configure_actor_system(cfg);  // loads the middleman, registers types
//   caf::actor_system sys{cfg};
//   wtcache::config c = wtcache::embedded_defaults();
//   c.redis_url = "redis://127.0.0.1:6379";
//   c.postgres_url = "postgresql://app@127.0.0.1/app";
//   auto svc = wtcache::service::start(sys, c);
//   wtcache::blocking_client cache{sys, svc->cache()};   // app/client.hpp
//   cache.set("session:42", "{...}");
//   svc->stop();                          // before `sys` goes away
//
// What the library does and does not do to its host:
//   - It installs no signal handler, never calls exit(), and keeps no
//     process-wide state: each service owns its actors, its figures and its
//     logger. Two services in one actor system work, each with its own
//     config, as long as they do not share a Redis key prefix on one Redis
//     (redis_key_prefix) or a table on one PostgreSQL: those are two nodes
//     of one cluster, which is also safe, but then they must agree on the
//     namespaces. Driver threads block SIGPIPE for themselves (hiredis
//     writes with write(2)); the host's signal dispositions are its own.
//   - It logs through the spdlog logger the host passes (config::logger
//     below), spdlog's default logger otherwise. It never changes the
//     default logger or its level.
//   - Its typed API (service::cache()) is trusted: users and passwords
//     ([server] requirepass, [[user]]) guard RESP clients only.
//   - The RESP listener and the HTTP endpoint run only if the config asks
//     for them (listen_enabled, http_enabled); embedded_defaults() turns
//     both off.
//   - It starts no server processes. start_private_servers()
//     (app/private_servers.hpp) starts a private redis-server and
//     PostgreSQL when the host asks for them explicitly.
//
// Compatibility: the version is major.minor.patch (version() and
// WTCACHE_VERSION_* in <wtcache/version.hpp>). Within one major version
// from 1.0 on, a minor release keeps every declaration of the installed
// headers source compatible; before 1.0, a minor release (0.2 -> 0.3) may
// change them, and says how in its release notes. The binary interface is
// not promised: rebuild the host against each release.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "../core/config.hpp"
#include "../core/latency.hpp"
#include "../messages/cache_api.hpp"

namespace wtcache {

// The library's version ("0.2.0"), as it was built.
const char* version();

// Loads caf::io::middleman and registers wtcache's message types and errors.
// Call once per actor_system_config, before the system is made from it.
void configure_actor_system(caf::actor_system_config& cfg);

// wtcached's scheduler: CAF's "sharing" policy (one queue, sleeping workers
// woken on demand) instead of the default work stealing, whose idle workers
// poll with sleeps. Measured with wtcache_bench, 1 client: cache-hit GET p50
// 0.32 ms -> 0.18 ms, write-through SET p99 4.1 ms -> 1.7 ms. A host program
// may call this for its own system or keep its choice.
void use_sharing_scheduler(caf::actor_system_config& cfg);

// A config for embedding: wtcached's defaults with no RESP listener and no
// HTTP endpoint, and the default namespace (table wtcache_kv). The host
// fills in redis_url and postgres_url (or starts private servers).
config embedded_defaults();

// Why Redis's maxmemory-policy endangers write-behind namespaces, if it does.
std::optional<std::string> eviction_problem(const std::string& policy,
                                            const std::vector<namespace_config>& spaces,
                                            const std::string& url);

// A copy of the service's main figures at one moment (each read on its own:
// they are statistics, not one consistent cut).
struct metrics_snapshot {
  uint64_t commands = 0;         // requests answered or in flight (RESP and the typed API)
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t db_reads = 0;         // rows read from PostgreSQL
  uint64_t writes = 0;           // key writes committed (write-through) or queued
  uint64_t write_errors = 0;
  uint64_t db_transactions = 0;  // write transactions (group commits)
  uint64_t connections_open = 0; // RESP clients
  uint64_t worker_restarts = 0;
  uint64_t expired_rows_deleted = 0;
  int64_t write_behind_depth = 0;  // entries queued, over every write-behind namespace
  uint64_t write_behind_dead_letters = 0;
  bool postgres_up = false;  // its circuit breaker is closed
  bool redis_up = false;
};

struct shard_hooks;  // tests only: app/service_testing.hpp

class service {
public:
  // Prepares the schema (creates missing tables; throws config_error for a
  // configuration problem, naming the field, and std::runtime_error for
  // anything else, e.g. a backend that cannot be reached), spawns the
  // actors in `sys`, and binds the listeners the config enables (port 0
  // picks a free one). Blocks the calling thread while it checks the
  // backends (up to a few seconds); call it from a thread of the host's,
  // not from inside an actor.
  static std::unique_ptr<service> start(caf::actor_system& sys, const config& cfg);
  ~service();  // stop()
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  // The typed cache (messages/cache_api.hpp). The handle may be copied and
  // used from any actor or thread; after stop() every request to it gets
  // an error at once (ec::stopped, or CAF's request_receiver_down). Should
  // its actor be killed (exit_reason::kill), requests in flight are not
  // answered: callers' own timeouts (the clients' default 10 s) end them.
  cache_actor cache() const;

  // The RESP port; 0 when the listener is off.
  uint16_t port() const;
  // The HTTP endpoint's port (/metrics, /healthz, /readyz); 0 when it is off.
  uint16_t http_port() const;

  // Figures, readable from any thread at any time (after stop() too).
  metrics_snapshot snapshot() const;
  // Every figure in the Prometheus text format, as /metrics serves it, for
  // a host that serves its own /metrics. Thread-safe; costs a few µs per
  // figure.
  std::string prometheus_text() const;
  // The live counters (for benchmarks and tests).
  const service_metrics& metrics() const;

  // Takes no new requests, answers those in flight (within
  // request_timeout), closes the listeners, stops the shards, drains the
  // write-behind queues for up to shutdown_grace, then stops the workers
  // and returns once they are gone. Idempotent; not thread-safe: call
  // start() and stop() from one thread.
  void stop();

private:
  struct impl;  // app/service.cpp
  service();
  std::unique_ptr<impl> impl_;
  friend std::unique_ptr<service> start_with_hooks(caf::actor_system&, const config&,
                                                   const shard_hooks&);
};

}  // namespace wtcache
