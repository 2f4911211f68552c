// The write-behind writer protocol (actors/write_behind_writer.hpp).
//
//   (atom::tick, generation)           the writer's own loop; only the newest tick counts
//   (atom::flush, deadline) -> stream_report
//       Drain the stream now, without waiting for batches to fill, until
//       Redis says it is empty or `deadline` (steady-clock nanoseconds)
//       passes. The answer is what Redis holds of the stream when it is
//       given (XLEN, XPENDING), read then, never a counter kept on the side;
//       it carries an error instead when Redis could not be asked.
//       A writer that does not hold the stream's lock keeps trying to take
//       it over meanwhile (its owner may be a session that just went away).
#pragma once

#include <cstdint>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "core/queue_report.hpp"
#include "messages/atoms.hpp"

namespace wtcache {

template <class F>
typename F::result_type inspect(F& f, stream_report& x) {
  return f(caf::meta::type_name("stream_report"), x.stream, x.streams, x.length, x.pending, x.owned,
           x.error);
}

using writer_actor = caf::typed_actor<
  caf::reacts_to<atom::tick, uint64_t>,
  caf::reacts_to<atom::deadline>,
  caf::replies_to<atom::flush, int64_t>::with<stream_report>>;

}  // namespace wtcache
