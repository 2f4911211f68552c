// Sending on a broker's connection without CAF's write-readiness round: a
// connection's replies and the cache reader's commands go straight to the
// socket while nothing of the broker's waits in CAF's buffer for it. Through
// CAF, every send would subscribe the socket to write readiness, wait for
// it, write and unsubscribe (three more system calls, on the multiplexer
// thread that every connection shares). What the socket does not take goes
// to CAF's buffer, in order; a socket error is left to CAF too, which
// reports it and closes.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string_view>

#include <caf/io/abstract_broker.hpp>
#include <caf/io/connection_handle.hpp>

namespace wtcache {

// `unsent`: the bytes in CAF's buffer for `hdl`, as the broker tracks them
// (ack_writes and data_transferred_msg::remaining); grows by what this
// leaves there. Returns the bytes the socket took at once.
inline std::size_t send_now_or_buffer(caf::io::abstract_broker* self,
                                      caf::io::connection_handle hdl, std::size_t& unsent,
                                      std::string_view bytes) {
  std::size_t sent = 0;
  if (unsent == 0) {
    auto n = ::send(static_cast<int>(hdl.id()), bytes.data(), bytes.size(),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
      sent = static_cast<std::size_t>(n);
  }
  if (sent < bytes.size()) {
    unsent += bytes.size() - sent;
    self->write(hdl, bytes.size() - sent, bytes.data() + sent);
    self->flush(hdl);
  }
  return sent;
}

}  // namespace wtcache
