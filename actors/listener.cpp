// The listener: accepts RESP clients and forks a connection broker for each.
#include "actors/listener.hpp"

#include <algorithm>

#include <caf/behavior.hpp>
#include <caf/send.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/broker_mailbox.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"

namespace wtcache {

caf::behavior listener(caf::io::stateful_broker<listener_state>* self, std::string host,
                       uint16_t port, std::shared_ptr<front_end> fe) {
  close_mailbox_at_exit(self);
  auto bound = self->add_tcp_doorman(port, host.c_str(), true);
  if (!bound) {
    return {
      [=](atom::get) -> caf::result<uint16_t> {
        self->quit();
        return cannot_listen(host, port);
      },
    };
  }
  fe->port = bound->second;
  std::shared_ptr<const front_end> shared = fe;
  // Connections end when the listener does (service shutdown).
  auto open = self->state.connections;
  self->attach_functor([open] {
    for (auto& c : *open)
      caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([open](caf::down_msg& dm) {
    open->erase(std::remove_if(open->begin(), open->end(),
                               [&](const caf::actor& c) { return c.address() == dm.source; }),
                open->end());
  });
  return {
    [=](const caf::io::new_connection_msg& msg) {
      // As Redis: past maxclients a client hears why, and is closed.
      if (open->size() >= shared->maxclients) {
        shared->metrics->rejected_connections.fetch_add(1, std::memory_order_relaxed);
        static const std::string refusal = "-ERR max number of clients reached\r\n";
        self->write(msg.handle, refusal.size(), refusal.data());
        self->flush(msg.handle);
        self->close(msg.handle);
        return;
      }
      auto c = self->fork(connection, msg.handle, shared);
      self->monitor(c);
      open->push_back(c);
    },
    [=](atom::get) -> uint16_t { return shared->port; },
  };
}

}  // namespace wtcache
