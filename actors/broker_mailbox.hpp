// Closes a broker's mailbox when it terminates, as CAF does for every other
// actor. CAF 0.17.6 does not: abstract_broker::cleanup calls
// local_actor::cleanup and skips scheduled_actor::cleanup, which is what
// closes and drains a mailbox. A terminated broker so keeps accepting
// messages, and each holds a strong reference to its sender. A late answer
// from a detached worker (a readiness probe, a cache read) then keeps that
// worker's object alive; a message the broker sent itself keeps the broker
// alive, and the worker with it; and ~actor_system waits for the worker's
// thread forever (seen: write_behind_tests hung at its end, 1 run in ~20 on
// a loaded machine). Call once, when the broker starts.
#pragma once

#include <caf/detail/sync_request_bouncer.hpp>
#include <caf/error.hpp>

namespace wtcache {

template <class Broker>
void close_mailbox_at_exit(Broker* self) {
  self->attach_functor([self](const caf::error& reason) {
    // Runs in the broker's cleanup, on its own thread: the mailbox's reader.
    auto& mailbox = self->mailbox();
    if (mailbox.closed())
      return;
    mailbox.close();
    self->get_normal_queue().flush_cache();
    self->get_urgent_queue().flush_cache();
    // Requests still in it get an error answer; everything else is dropped.
    caf::detail::sync_request_bouncer bounce{reason};
    while (mailbox.queue().new_round(1000, bounce).consumed_items > 0) {
    }
  });
}

}  // namespace wtcache
