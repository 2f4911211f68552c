// The reaper: deletes rows whose value has expired (expiry = "value"), in
// small batches, through the shards' own write path, so that each key is
// locked, re-checked (a write may have renewed it meanwhile: then it
// stays) and tombstoned like any DEL. Expired rows are absent for every
// command whether or not the reaper has come by; it only takes back their
// space. Every node runs one; two reaping the same row is harmless.
// Write-behind keys are reaped through their queue, as a DEL the shard
// decides from the key's newest state (a queued SET may have renewed it),
// never beside it.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>


#include "core/logger_ref.hpp"
#include "core/config.hpp"
#include "core/latency.hpp"
#include "core/namespaces.hpp"
#include "messages/shard_protocol.hpp"

namespace wtcache {

struct reaper_settings {
  std::vector<shard_actor> shards;
  std::shared_ptr<const namespace_table> spaces;
  std::shared_ptr<service_metrics> metrics;
  std::chrono::milliseconds interval{1000};  // between rounds that found less than a batch
  std::size_t batch = 500;                   // rows per round, one transaction
  std::chrono::milliseconds request_timeout{5000};
  logger_ref log;  // where it logs (config::logger)
};

// The settings the configuration decides. Left to the caller: the shards and the figures.
reaper_settings reaper_settings_from(const config& cfg);

struct reaper_state {
  static inline const char* name = "reaper";
  reaper_settings cfg;
  bool failing = false;  // logged once per failing streak
};

caf::behavior reaper(caf::stateful_actor<reaper_state>* self, reaper_settings cfg);

}  // namespace wtcache
