// The write-behind writer protocol (actors/write_behind_writer.hpp).
//
//   (atom::tick, generation)           the writer's own loop; only the newest tick counts
//   (atom::flush, deadline) -> uint64_t
//       Drain the stream now, without waiting for batches to fill, until it
//       is empty or `deadline` (steady-clock nanoseconds) passes; answers the
//       namespace's queue depth left (0 when drained, or when another node
//       owns the stream and drains it).
#pragma once

#include <cstdint>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"

namespace wtcache {

using writer_actor = caf::typed_actor<
  caf::reacts_to<atom::tick, uint64_t>,
  caf::reacts_to<atom::deadline>,
  caf::replies_to<atom::flush, int64_t>::with<uint64_t>>;

}  // namespace wtcache
