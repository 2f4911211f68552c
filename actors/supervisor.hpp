// The supervisor: spawns the PostgreSQL and Redis worker pools (detached
// actors: the drivers block), monitors every worker, and restarts one that
// dies after an exponential backoff with jitter (core/backoff.hpp). After
// every change it tells the shards which workers are alive. Told to exit,
// it stops its workers and exits once they have (at most stop_wait later).
// It also runs the node's
// dirty-key watch (actors/dirty_watch.hpp) the same way.
#pragma once

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>


#include "core/logger_ref.hpp"
#include "backends/endpoints.hpp"
#include "core/backoff.hpp"
#include "core/config.hpp"
#include "core/latency.hpp"
#include "core/node_health.hpp"
#include "core/namespaces.hpp"
#include "actors/worker_directory.hpp"
#include "actors/write_behind_writer.hpp"
#include "messages/queue_protocol.hpp"
#include "messages/shard_protocol.hpp"

namespace wtcache {

struct supervisor_settings {
  std::string postgres_url;
  std::size_t postgres_pool = 4;
  std::chrono::milliseconds postgres_timeout{3000};
  std::shared_ptr<const namespace_table> spaces;
  redis_endpoint redis;
  std::size_t redis_pool = 2;
  std::chrono::milliseconds redis_timeout{1000};
  backoff_policy backoff;
  std::vector<shard_actor> shards;
  std::shared_ptr<service_metrics> metrics;
  std::shared_ptr<node_health> health;
  std::vector<writer_settings> writers;  // one per write-behind stream
  std::chrono::milliseconds dirty_lease{400};  // actors/dirty_watch.hpp
  std::shared_ptr<worker_directory> directory;  // told the Redis pool too
  std::chrono::milliseconds stop_wait{5000};     // for the workers to exit at a stop
  std::size_t max_value_bytes = 16 * 1024 * 1024;  // what APPEND and SETRANGE may leave
  logger_ref log;  // where it logs (config::logger)
};

// The settings the configuration decides, the write-behind writers' among
// them. Left to the caller: the namespaces, the shards, the figures, node
// health, the worker directory and the writers' figures.
supervisor_settings supervisor_settings_from(const config& cfg);

struct supervisor_state {
  static inline const char* name = "supervisor";

  supervisor_settings cfg;
  enum class kind { postgres, redis, writer, watch };
  struct slot {
    kind what = kind::postgres;
    std::size_t writer = 0;                 // kind::writer: index into cfg.writers
    postgres_worker_actor postgres_worker;  // the live worker of its kind
    redis_worker_actor redis_worker;
    writer_actor writer_worker;
    caf::actor watch;                       // the dirty-key watch
    caf::actor_addr address;                // of the live worker, any kind
    unsigned failures = 0;
    std::chrono::steady_clock::time_point started;
  };
  std::vector<slot> slots;
  // Shared with the exit hook, which runs after the state is gone.
  std::shared_ptr<std::vector<caf::strong_actor_ptr>> live =
    std::make_shared<std::vector<caf::strong_actor_ptr>>();
  std::minstd_rand rng{std::random_device{}()};
  bool stopping = false;  // told to exit: waiting for the workers to go
  caf::error stop_reason;
};

caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self, supervisor_settings cfg);

}  // namespace wtcache
