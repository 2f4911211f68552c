// The cache reader: cache hits over one Redis connection on the multiplexer thread.
#include "actors/cache_reader.hpp"

#include <sys/socket.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <caf/behavior.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/broker_mailbox.hpp"
#include "backends/redis_cache.hpp"
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

}  // namespace

const char* const reader_client_name = "wtcache-reader";

namespace {

int64_t now_ns() { return clock_type::now().time_since_epoch().count(); }

void send_out(self_ptr self) {
  auto& st = self->state;
  st.flush_posted = false;
  if (st.out.empty() || !st.link)
    return;
  send_now_or_buffer(self, *st.link, st.unsent, st.out);
  st.out.clear();
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

// Drops the connection: every request on it fails, and a new one is
// opened after the backoff.
void drop(self_ptr self, const std::string& why) {
  auto& st = self->state;
  if (st.link) {
    if (st.verified)
      st.cfg.log->warn("cache reader: connection to Redis lost ({}); cache hits go through the "
                   "Redis workers until it is back",
                   why);
    // CAF's close() is graceful and would wait for a Redis that does not
    // read; shutting the socket down first makes it final.
    ::shutdown(static_cast<int>(st.link->id()), SHUT_RDWR);
    self->close(*st.link);
    st.link.reset();
  }
  if (st.verified) {
    st.cfg.directory->set_reader({});
    st.cfg.metrics->cache_reader_up.store(false);
  }
  st.verified = false;
  st.out.clear();
  st.unsent = 0;
  st.replies = std::make_unique<reply_reader>();
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  st.keys_waiting = 0;
  for (auto& w : waiting)
    if (w.keys > 0)
      w.promise.deliver(make_error(ec::redis_unavailable, why));
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
  // The worker closes a socket it opens after the deadline; this waits
  // longer than connecting, AUTH and SELECT can take after it.
  self->request(worker, st.cfg.timeout * 4 + std::chrono::seconds(1), atom::open::value,
                deadline)
    .then(
      [=](int32_t fd) {
        auto& st = self->state;
        auto hdl = self->add_scribe(fd);
        st.link = hdl;
        self->configure_read(hdl, caf::io::receive_policy::at_most(read_size));
        self->ack_writes(hdl, true);
        // Named, so that CLIENT LIST tells it from the workers; it serves
        // no one before Redis has answered on it.
        st.out += "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n";
        resp::bulk(st.out, reader_client_name);
        st.out += "*1\r\n$4\r\nPING\r\n";
        auto deadline = now_ns() + std::chrono::nanoseconds(st.cfg.timeout).count();
        st.waiting.push_back({0, {}, {}, deadline});
        st.waiting.push_back({0, {}, {}, deadline});
        send_out(self);
        arm_watchdog(self, st.cfg.timeout);
      },
      [=](caf::error& err) {
        connect_later(self);
        self->state.cfg.log->debug("cache reader: no connection to Redis yet: {}", client_error_text(err));
      });
}

void on_data(self_ptr self, const std::vector<char>& buf) {
  auto& st = self->state;
  st.last_data = clock_type::now();
  st.replies->feed(buf.data(), buf.size());
  redis_reply r;
  for (;;) {
    auto status = st.replies->next(r);
    if (status == reply_reader::status::incomplete)
      return;
    if (status == reply_reader::status::error) {
      drop(self, "unreadable reply from Redis: " + st.replies->error_message());
      return;
    }
    if (st.waiting.empty()) {
      drop(self, "a reply from Redis that nothing asked for");
      return;
    }
    auto& w = st.waiting.front();
    if (w.keys == 0) {  // CLIENT SETNAME (its answer does not matter), then PING
      bool ping = st.waiting.size() == 1 || st.waiting[1].keys != 0;
      st.waiting.pop_front();
      if (ping && (r->type != REDIS_REPLY_STATUS || reply_text(r.get()) != "PONG")) {
        drop(self, "PING answered with " + reply_text(r.get()));
        return;
      }
      if (ping) {
        st.verified = true;
        st.attempt = 0;
        st.cfg.metrics->cache_reader_up.store(true);
        st.cfg.metrics->cache_reader_connects.fetch_add(1, std::memory_order_relaxed);
        st.cfg.directory->set_reader(caf::actor_cast<cache_read_actor>(self));
      }
      continue;
    }
    w.entries.push_back(entry_of_reply(r.get()));
    if (w.entries.size() == w.keys) {
      st.keys_waiting -= w.keys;
      st.cfg.metrics->cache_read_latency.observe(clock_type::now() - w.asked);
      w.promise.deliver(std::move(w.entries));
      st.waiting.pop_front();
    }
  }
}

void on_watchdog(self_ptr self) {
  auto& st = self->state;
  st.watchdog_armed = false;
  if (st.waiting.empty())
    return;
  auto& front = st.waiting.front();
  auto left = front.deadline - now_ns();
  // Past its deadline with nothing read since it was asked: Redis is not
  // answering. (Replies still coming in mean a busy thread, not a dead
  // connection: that request's client has its own deadline.)
  if (left < 0 && st.last_data < front.asked) {
    drop(self, "no answer within redis.timeout_ms");
    return;
  }
  if (left < 0)
    left = std::chrono::nanoseconds(st.cfg.timeout).count();
  arm_watchdog(self, std::chrono::nanoseconds(left));
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
      st.keys_waiting += keys.size();
      for (auto& k : keys)
        append_entry_read(st.out, k);
      st.waiting.push_back({keys.size(), {}, self->make_response_promise(), deadline,
                            clock_type::now()});
      st.waiting.back().entries.reserve(keys.size());
      // Whatever else is in the mailbox by now goes out in the same write.
      if (!st.flush_posted) {
        st.flush_posted = true;
        self->send(self, atom::flush::value);
      }
      arm_watchdog(self, std::chrono::nanoseconds(deadline - now_ns()));
      return st.waiting.back().promise;
    },
    [=](atom::flush) { send_out(self); },
    [=](atom::deadline) { on_watchdog(self); },
    [=](atom::open) {
      if (!self->state.link)
        connect(self);
    },
    [=](const caf::io::new_data_msg& msg) {
      if (self->state.link && msg.handle == *self->state.link)
        on_data(self, msg.buf);
    },
    [=](const caf::io::data_transferred_msg& msg) {
      if (self->state.link && msg.handle == *self->state.link)
        self->state.unsent = msg.remaining;
    },
    [=](const caf::io::connection_closed_msg& msg) {
      if (self->state.link && msg.handle == *self->state.link)
        drop(self, "Redis closed the connection");
    },
  };
}

}  // namespace wtcache
