// The cache reader: cache hits over one Redis connection on the multiplexer thread.
#include "actors/cache_reader.hpp"

#include <sys/socket.h>
#include <algorithm>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <caf/behavior.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/broker_mailbox.hpp"
#include "backends/redis_cache.hpp"
#include "core/key_layout.hpp"
#include "core/resp.hpp"
#include "actors/socket_send.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"

namespace wtcache {

using self_ptr = cache_reader_self*;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t read_size = 16 * 1024;
// Keys asked for and not answered yet: beyond this, reads go to the shards
// (Redis is slow, and the requests would only pile up here).
constexpr std::size_t max_keys_waiting = 10000;
// At most this often, the connections are opened again for a new slot map.
constexpr auto map_recheck = std::chrono::seconds(1);

}  // namespace

const char* const reader_client_name = "wtcache-reader";

namespace {

int64_t now_ns() { return clock_type::now().time_since_epoch().count(); }

using link = cache_reader_state::link;

void send_out(self_ptr self) {
  auto& st = self->state;
  st.flush_posted = false;
  for (auto& l : st.links) {
    if (l.out.empty())
      continue;
    send_now_or_buffer(self, l.hdl, l.unsent, l.out);
    l.out.clear();
  }
}

void arm_watchdog(self_ptr self, clock_type::duration after) {
  auto& st = self->state;
  if (st.watchdog_armed)
    return;
  st.watchdog_armed = true;
  self->delayed_send(self, std::max<clock_type::duration>(after, std::chrono::milliseconds(1)),
                     atom::deadline::value);
}

void connect_later(self_ptr self);

// Drops the connections: every request on them fails, and new ones are
// opened after the backoff. `lost`: a connection was lost (logged as a
// warning), not only a slot map gone out of date.
void drop(self_ptr self, const std::string& why, bool lost = true) {
  auto& st = self->state;
  if (!st.links.empty()) {
    if (st.verified && lost)
      st.cfg.log->warn("cache reader: connection to Redis lost ({}); cache hits go through the "
                       "Redis workers until it is back",
                       why);
    else if (st.verified)
      st.cfg.log->debug("cache reader: connecting again ({})", why);
    // CAF's close() is graceful and would wait for a Redis that does not
    // read; shutting the socket down first makes it final.
    for (auto& l : st.links) {
      ::shutdown(static_cast<int>(l.hdl.id()), SHUT_RDWR);
      self->close(l.hdl);
    }
    st.links.clear();
  }
  if (st.verified) {
    st.cfg.directory->set_reader({});
    st.cfg.metrics->cache_reader_up.store(false);
  }
  st.verified = false;
  st.slot_link.clear();
  auto requests = std::move(st.requests);
  st.requests.clear();
  st.keys_waiting = 0;
  for (auto& [id, r] : requests)
    if (id != 0)  // 0: the PINGs' deadline, no one's request
      r.promise.deliver(make_error(ec::redis_unavailable, why));
  if (!lost)
    st.attempt = 0;  // a map to read again: at once
  connect_later(self);
}

void connect_later(self_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, st.cfg.backoff.delay(st.attempt++, st.rng), atom::open::value);
}

void connect(self_ptr self) {
  auto& st = self->state;
  auto worker = st.cfg.directory->redis(0);
  if (!worker) {
    connect_later(self);
    return;
  }
  auto deadline = (clock_type::now() + st.cfg.timeout).time_since_epoch().count();
  // The worker closes sockets it opens after the deadline; this waits
  // longer than connecting, AUTH and SELECT can take after it.
  self->request(worker, st.cfg.timeout * 4 + std::chrono::seconds(1), atom::open::value,
                deadline)
    .then(
      [=](redis_sockets& opened) {
        auto& st = self->state;
        if (!st.links.empty() || opened.fds.empty()) {  // cannot happen: one connect at a time
          for (int fd : opened.fds)
            ::close(fd);
          connect_later(self);
          return;
        }
        st.slot_link = std::move(opened.slot_socket);
        st.connected_at = clock_type::now();
        auto deadline = now_ns() + std::chrono::nanoseconds(st.cfg.timeout).count();
        for (int fd : opened.fds) {
          auto& l = st.links.emplace_back();
          l.hdl = self->add_scribe(fd);
          self->configure_read(l.hdl, caf::io::receive_policy::at_most(read_size));
          self->ack_writes(l.hdl, true);
          // Named, so that CLIENT LIST tells it from the workers; it serves
          // no one before Redis has answered on each connection.
          l.out += "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n";
          resp::bulk(l.out, reader_client_name);
          l.out += "*1\r\n$4\r\nPING\r\n";
          l.waiting.push_back({0, 0});
          l.waiting.push_back({0, 1});
        }
        // The PINGs' deadline, as a request of no keys.
        st.requests[0] = {{}, 0, {}, deadline, clock_type::now()};
        send_out(self);
        arm_watchdog(self, st.cfg.timeout);
      },
      [=](caf::error& err) {
        connect_later(self);
        self->state.cfg.log->debug("cache reader: no connection to Redis yet: {}", client_error_text(err));
      });
}

// A reply to the setup of link `l` (CLIENT SETNAME, whose answer does not
// matter, then PING); false when it dropped the connections.
bool on_setup_reply(self_ptr self, link& l, bool ping, const redis_reply& r) {
  auto& st = self->state;
  if (!ping)
    return true;
  if (r->type != REDIS_REPLY_STATUS || reply_text(r.get()) != "PONG") {
    drop(self, "PING answered with " + reply_text(r.get()));
    return false;
  }
  l.pinged = true;
  if (std::all_of(st.links.begin(), st.links.end(), [](const link& x) { return x.pinged; })) {
    st.requests.erase(0);
    st.verified = true;
    st.attempt = 0;
    st.cfg.metrics->cache_reader_up.store(true);
    st.cfg.metrics->cache_reader_connects.fetch_add(1, std::memory_order_relaxed);
    st.cfg.directory->set_reader(caf::actor_cast<cache_read_actor>(self));
  }
  return true;
}

void on_data(self_ptr self, std::size_t at, const std::vector<char>& buf) {
  auto& st = self->state;
  auto* l = &st.links[at];
  l->last_data = clock_type::now();
  l->replies->feed(buf.data(), buf.size());
  redis_reply r;
  for (;;) {
    auto status = l->replies->next(r);
    if (status == reply_reader::status::incomplete)
      return;
    if (status == reply_reader::status::error) {
      drop(self, "unreadable reply from Redis: " + l->replies->error_message());
      return;
    }
    if (l->waiting.empty()) {
      drop(self, "a reply from Redis that nothing asked for");
      return;
    }
    auto e = l->waiting.front();
    l->waiting.pop_front();
    if (e.request == 0) {
      if (!on_setup_reply(self, *l, e.key == 1, r))
        return;
      continue;
    }
    auto it = st.requests.find(e.request);
    if (it == st.requests.end())
      continue;  // its request failed already
    auto& q = it->second;
    if (!st.slot_link.empty() && r->type == REDIS_REPLY_ERROR) {
      // MOVED, ASK, CLUSTERDOWN...: this read goes to the workers, which
      // follow it (its other replies are skipped). A MOVED also means the
      // map here is out of date: it is read again, at most once a second.
      auto why = reply_text(r.get());
      st.keys_waiting -= q.entries.size();
      q.promise.deliver(make_error(ec::redis_unavailable, "the cache reader's Redis Cluster "
                                                          "answered " + why));
      st.requests.erase(it);
      if (why.rfind("MOVED ", 0) == 0 && clock_type::now() - st.connected_at >= map_recheck) {
        drop(self, "a slot moved: " + why, false);
        return;
      }
      continue;
    }
    q.entries[e.key] = entry_of_reply(r.get());
    if (--q.left == 0) {
      st.keys_waiting -= q.entries.size();
      st.cfg.metrics->cache_read_latency.observe(clock_type::now() - q.asked);
      q.promise.deliver(std::move(q.entries));
      st.requests.erase(it);
    }
  }
}

void on_watchdog(self_ptr self) {
  auto& st = self->state;
  st.watchdog_armed = false;
  if (st.requests.empty())
    return;
  auto& [id, oldest] = *st.requests.begin();
  auto left = oldest.deadline - now_ns();
  // Past its deadline with nothing read on a link it waits on since it was
  // asked: Redis is not answering. (Replies still coming in mean a busy
  // thread, not a dead connection: that request's client has its own
  // deadline.)
  if (left < 0) {
    for (auto& l : st.links) {
      bool waits = std::any_of(l.waiting.begin(), l.waiting.end(),
                               [id = id](const link::expect& e) { return e.request == id; });
      if (waits && l.last_data < oldest.asked) {
        drop(self, "no answer within redis.timeout_ms");
        return;
      }
    }
    left = std::chrono::nanoseconds(st.cfg.timeout).count();
  }
  arm_watchdog(self, std::chrono::nanoseconds(left));
}

// The link of a connection handle; links.size() for none.
std::size_t link_of(const cache_reader_state& st, caf::io::connection_handle hdl) {
  for (std::size_t i = 0; i < st.links.size(); ++i)
    if (st.links[i].hdl == hdl)
      return i;
  return st.links.size();
}

}  // namespace

cache_reader_settings cache_reader_settings_from(const config& cfg) {
  cache_reader_settings s;
  s.log = logger_of(cfg);
  s.timeout = cfg.redis_timeout;
  s.backoff = cfg.restart_backoff;
  return s;
}

caf::behavior cache_reader(self_ptr self, cache_reader_settings cfg) {
  close_mailbox_at_exit(self);
  self->state.cfg = std::move(cfg);
  self->attach_functor([dir = self->state.cfg.directory, m = self->state.cfg.metrics] {
    dir->set_reader({});
    m->cache_reader_up.store(false);
  });
  connect(self);
  return {
    [=](atom::get, std::vector<std::string>& keys,
        int64_t deadline) -> caf::result<std::vector<cache_entry>> {
      auto& st = self->state;
      if (!st.verified)
        return make_error(ec::redis_unavailable, "the cache reader has no connection");
      if (keys.empty())
        return std::vector<cache_entry>{};
      if (st.keys_waiting + keys.size() > max_keys_waiting)
        return make_error(ec::redis_unavailable, "the cache reader has too many reads waiting");
      // Each key at its slot's master (one Redis: link 0).
      std::vector<uint16_t> at(keys.size(), 0);
      if (!st.slot_link.empty())
        for (std::size_t i = 0; i < keys.size(); ++i) {
          at[i] = st.slot_link[key_slot(keys[i])];
          if (at[i] >= st.links.size())
            return make_error(ec::redis_unavailable, "no master serves the key's slot");
        }
      auto id = st.next_request++;
      auto& q = st.requests[id];
      q.entries.resize(keys.size());
      q.left = keys.size();
      q.promise = self->make_response_promise();
      q.deadline = deadline;
      q.asked = clock_type::now();
      st.keys_waiting += keys.size();
      for (std::size_t i = 0; i < keys.size(); ++i) {
        auto& l = st.links[at[i]];
        append_entry_read(l.out, keys[i]);
        l.waiting.push_back({id, static_cast<uint32_t>(i)});
      }
      // Whatever else is in the mailbox by now goes out in the same write.
      if (!st.flush_posted) {
        st.flush_posted = true;
        self->send(self, atom::flush::value);
      }
      arm_watchdog(self, std::chrono::nanoseconds(deadline - now_ns()));
      return q.promise;
    },
    [=](atom::flush) { send_out(self); },
    [=](atom::deadline) { on_watchdog(self); },
    [=](atom::open) {
      if (self->state.links.empty())
        connect(self);
    },
    [=](const caf::io::new_data_msg& msg) {
      auto at = link_of(self->state, msg.handle);
      if (at < self->state.links.size())
        on_data(self, at, msg.buf);
    },
    [=](const caf::io::data_transferred_msg& msg) {
      auto at = link_of(self->state, msg.handle);
      if (at < self->state.links.size())
        self->state.links[at].unsent = msg.remaining;
    },
    [=](const caf::io::connection_closed_msg& msg) {
      if (link_of(self->state, msg.handle) < self->state.links.size())
        drop(self, "Redis closed the connection");
    },
  };
}

}  // namespace wtcache
