// The dirty-key watch: how every node learns which write-through keys
// another node committed without being able to invalidate them in Redis.
//
// Such a write records its keys in wtcache_dirty_keys in its own
// transaction (actors/postgres_worker.cpp) and holds its reply for one
// lease. The watch reads the table every lease/4 on a connection of its own
// and gives each shard its keys together with a lease: "nothing else was
// recorded as of a moment no earlier than lease_until - lease". A shard
// trusts a cached value only while its lease runs; so once the writer's
// reply goes out, every node either knows the key is dirty or has stopped
// trusting the cache. A shard that got a key writes its tombstone and then
// deletes the record (actors/shard_coordinator.cpp).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/response_promise.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>


#include "core/logger_ref.hpp"
#include "core/node_health.hpp"
#include "core/namespaces.hpp"
#include "messages/shard_protocol.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

struct dirty_watch_settings {
  std::string postgres_url;
  std::shared_ptr<const namespace_table> spaces;
  std::chrono::milliseconds postgres_timeout{3000};
  std::chrono::milliseconds lease{400};
  std::vector<shard_actor> shards;
  std::shared_ptr<node_health> health;  // it writes the lease there
  logger_ref log;  // where it logs (config::logger)
};

struct dirty_watch_state {
  static inline const char* name = "dirty_watch";
  dirty_watch_settings cfg;
  postgres_worker_actor db;  // linked: its own connection, not the pool's
  bool ready = false;        // the first look succeeded
  bool failing = false;      // logged once per failing streak
  std::vector<caf::response_promise> waiting;  // asked before the first look
};

// (atom::get) -> ok once the shards have their first lease.
caf::behavior dirty_watch(caf::stateful_actor<dirty_watch_state>* self, dirty_watch_settings cfg);

}  // namespace wtcache
