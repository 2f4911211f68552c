// The listener: a broker that owns the listening socket and forks one
// connection actor per accepted client. (atom::get) -> uint16_t answers the
// bound port, or the error that kept it from binding.
#pragma once

#include <memory>
#include <string>

#include <caf/io/broker.hpp>

#include "actors/connection.hpp"

namespace wtcache {

struct listener_state {
  static inline const char* name = "listener";
  // Shared with the exit hook, which runs after the state is gone.
  std::shared_ptr<std::vector<caf::actor>> connections =
    std::make_shared<std::vector<caf::actor>>();
};

caf::behavior listener(caf::io::stateful_broker<listener_state>* self, std::string host,
                       uint16_t port, std::shared_ptr<front_end> fe);

}  // namespace wtcache
