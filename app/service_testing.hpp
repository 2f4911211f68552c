// For tests only: a service whose shards ask test hooks before chosen
// steps, so that a test can make an interleaving deterministic
// (shard_hooks in actors/shard_coordinator.hpp).
#pragma once

#include <memory>

#include "actors/shard_coordinator.hpp"
#include "app/service.hpp"

namespace wtcache {

std::unique_ptr<service> start_with_hooks(caf::actor_system& sys, const config& cfg,
                                          const shard_hooks& hooks);

}  // namespace wtcache
