// Embedding wtcache: run the write-through service inside your own
// caf::actor_system.
//
//   caf::actor_system_config cfg;
//   wtcache::configure_actor_system(cfg);   // loads the middleman, registers types
//   caf::actor_system sys{cfg};
//   auto svc = wtcache::service::start(sys, wtcache_config);
//   ... clients speak RESP to svc->port() ...
//   svc->stop();                             // before `sys` goes away
//
// start() runs on the calling thread and blocks while it checks the schema
// and Redis; the actors it spawns never block the scheduler (the drivers run
// in detached workers). Not thread-safe: call start/stop from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "core/config.hpp"
#include "core/latency.hpp"

namespace wtcache {

// Loads caf::io::middleman and registers wtcache's message types and errors.
void configure_actor_system(caf::actor_system_config& cfg);

// wtcached's scheduler: CAF's "sharing" policy (one queue, sleeping workers
// woken on demand) instead of the default work stealing, whose idle workers
// poll with sleeps. Measured with wtcache_bench, 1 client: cache-hit GET p50
// 0.32 ms -> 0.18 ms, write-through SET p99 4.1 ms -> 1.7 ms. A host program
// may call this for its own system or keep its choice.
void use_sharing_scheduler(caf::actor_system_config& cfg);

// Why Redis's maxmemory-policy endangers write-behind namespaces, if it does.
std::optional<std::string> eviction_problem(const std::string& policy,
                                            const std::vector<namespace_config>& spaces,
                                            const std::string& url);

struct shard_hooks;  // tests only: app/service_testing.hpp

class service {
public:
  // Prepares the schema (throws config_error for a configuration problem,
  // std::runtime_error for anything else), spawns the actors and binds the
  // listening socket (port 0 in `cfg` picks a free one).
  static std::unique_ptr<service> start(caf::actor_system& sys, const config& cfg);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  uint16_t port() const;
  // The HTTP endpoint's port (/metrics, /healthz, /readyz); 0 when it is off.
  uint16_t http_port() const;
  // Statistics (counters and histograms), readable from any thread.
  const service_metrics& metrics() const;

  // Closes the listener and every connection, stops the shards, drains the
  // write-behind queues for up to shutdown_grace, then stops the workers and
  // returns once they are gone. Idempotent.
  void stop();

private:
  struct impl;  // app/service.cpp
  service();
  std::unique_ptr<impl> impl_;
  friend std::unique_ptr<service> start_with_hooks(caf::actor_system&, const config&,
                                                   const shard_hooks&);
};

}  // namespace wtcache
