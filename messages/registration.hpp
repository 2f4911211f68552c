// The one place that tells CAF about the project's message types and errors.
#pragma once

#include <caf/fwd.hpp>

namespace wtcache {

void register_message_types(caf::actor_system_config& cfg);

}  // namespace wtcache
