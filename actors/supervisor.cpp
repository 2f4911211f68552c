// The supervisor: spawns the workers, restarts them with backoff, stops them in order.
#include "actors/supervisor.hpp"

#include <algorithm>
#include <map>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/dirty_watch.hpp"
#include "actors/postgres_worker.hpp"
#include "actors/redis_worker.hpp"
#include "messages/atoms.hpp"

namespace wtcache {

using self_ptr = caf::stateful_actor<supervisor_state>*;

namespace {

using kind = supervisor_state::kind;

const char* kind_name(kind k) {
  switch (k) {
    case kind::postgres: return "postgres";
    case kind::redis: return "redis";
    case kind::writer: return "write-behind";
    case kind::watch: return "dirty-key watch";
  }
  return "?";
}

// Tells the shards (and the worker directory) the pool of one kind: the
// live workers that `member` of each slot holds.
template <class Handle>
void announce_pool(self_ptr self, Handle supervisor_state::slot::*member,
                   void (worker_directory::*to_directory)(std::vector<Handle>)) {
  auto& st = self->state;
  std::vector<Handle> pool;
  for (auto& s : st.slots)
    if (s.*member)
      pool.push_back(s.*member);
  if (st.cfg.directory)
    ((*st.cfg.directory).*to_directory)(pool);
  for (auto& shard : st.cfg.shards)
    self->send(shard, atom::workers::value, pool);
}

void announce(self_ptr self, kind k) {
  // Writers and the watch run on their own: nobody sends them work.
  if (k == kind::postgres)
    announce_pool(self, &supervisor_state::slot::postgres_worker, &worker_directory::set_postgres);
  else if (k == kind::redis)
    announce_pool(self, &supervisor_state::slot::redis_worker, &worker_directory::set_redis);
}

void spawn_slot(self_ptr self, std::size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  switch (s.what) {
    case kind::postgres:
      s.postgres_worker = self->spawn<caf::detached + caf::monitored>(
        postgres_worker, postgres_worker_settings{with_application_name(st.cfg.postgres_url, "wtcached-worker"),
                                                  st.cfg.spaces,
                                                  st.cfg.postgres_timeout, st.cfg.redis,
                                                  st.cfg.redis_timeout, st.cfg.metrics,
                                                  st.cfg.max_value_bytes, st.cfg.log});
      s.address = s.postgres_worker.address();
      st.live->push_back(caf::actor_cast<caf::strong_actor_ptr>(s.postgres_worker));
      break;
    case kind::redis:
      s.redis_worker = self->spawn<caf::detached + caf::monitored>(
        redis_worker, redis_worker_settings{st.cfg.redis, st.cfg.redis_timeout, st.cfg.metrics,
                                            st.cfg.log});
      s.address = s.redis_worker.address();
      st.live->push_back(caf::actor_cast<caf::strong_actor_ptr>(s.redis_worker));
      break;
    case kind::writer:
      s.writer_worker = self->spawn<caf::detached + caf::monitored>(write_behind_writer,
                                                                    st.cfg.writers[s.writer]);
      s.address = s.writer_worker.address();
      st.live->push_back(caf::actor_cast<caf::strong_actor_ptr>(s.writer_worker));
      break;
    case kind::watch: {
      dirty_watch_settings w{with_application_name(st.cfg.postgres_url, "wtcached-dirty-watch"),
                             st.cfg.spaces, st.cfg.postgres_timeout,
                             st.cfg.dirty_lease, st.cfg.shards, st.cfg.health, st.cfg.log};
      s.watch = self->spawn<caf::monitored>(dirty_watch, std::move(w));
      s.address = s.watch.address();
      st.live->push_back(caf::actor_cast<caf::strong_actor_ptr>(s.watch));
      break;
    }
  }
  s.started = std::chrono::steady_clock::now();
  announce(self, s.what);
}

}  // namespace

supervisor_settings supervisor_settings_from(const config& cfg) {
  supervisor_settings s;
  s.postgres_url = with_connection_timeouts(cfg.postgres_url, cfg.postgres_timeout);
  s.postgres_pool = cfg.postgres_pool;
  s.postgres_timeout = cfg.postgres_timeout;
  s.redis = redis_endpoint_of(cfg);
  s.redis_pool = cfg.redis_pool;
  s.redis_timeout = cfg.redis_timeout;
  s.backoff = cfg.restart_backoff;
  s.dirty_lease = cfg.dirty_lease;
  s.max_value_bytes = cfg.max_value_bytes;
  s.log = logger_of(cfg);
  // Long enough for any worker's driver call in flight to reach its deadline.
  s.stop_wait = 2 * std::max(cfg.postgres_timeout, cfg.redis_timeout) + std::chrono::seconds(1);
  for (auto& ns : cfg.namespaces)
    if (ns.mode == write_mode::write_behind)
      for (std::size_t i = 0; i < ns.writers; ++i)
        s.writers.push_back(writer_settings_from(cfg, ns, i));
  return s;
}

caf::behavior supervisor(self_ptr self, supervisor_settings cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  for (std::size_t i = 0; i < st.cfg.postgres_pool; ++i)
    st.slots.push_back({kind::postgres, 0, {}, {}, {}, {}, {}, 0, {}});
  for (std::size_t i = 0; i < st.cfg.redis_pool; ++i)
    st.slots.push_back({kind::redis, 0, {}, {}, {}, {}, {}, 0, {}});
  for (std::size_t i = 0; i < st.cfg.writers.size(); ++i)
    st.slots.push_back({kind::writer, i, {}, {}, {}, {}, {}, 0, {}});
  st.slots.push_back({kind::watch, 0, {}, {}, {}, {}, {}, 0, {}});
  for (std::size_t i = 0; i < st.slots.size(); ++i)
    spawn_slot(self, i);
  // Whatever way the supervisor goes, its workers go with it.
  self->attach_functor([live = st.live] {
    for (auto& w : *live)
      caf::anon_send_exit(caf::actor_cast<caf::actor_addr>(w), caf::exit_reason::user_shutdown);
  });
  // Told to exit, it stops its workers and goes once they all have, so a
  // service's stop() returns only when none of its workers holds a
  // connection, a transaction or a write-behind stream's lock (the
  // dirty-key watch's own reader, linked to the watch, follows it). A
  // worker stuck in a driver call is not waited for past stop_wait.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.stopping || !msg.reason)
      return;  // a normal exit of a linked actor is no reason to go (CAF's default)
    st.stopping = true;
    st.stop_reason = msg.reason;
    if (st.live->empty()) {
      self->quit(msg.reason);
      return;
    }
    for (auto& w : *st.live)
      self->send_exit(w, msg.reason);
    self->delayed_send(self, st.cfg.stop_wait, atom::deadline::value);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto& live = *st.live;
    live.erase(std::remove_if(live.begin(), live.end(),
                              [&](const caf::strong_actor_ptr& w) {
                                return caf::actor_cast<caf::actor_addr>(w) == dm.source;
                              }),
               live.end());
    if (st.stopping) {
      if (live.empty())
        self->quit(st.stop_reason);
      return;
    }
    for (std::size_t i = 0; i < st.slots.size(); ++i) {
      auto& s = st.slots[i];
      if (!s.address || s.address != dm.source)
        continue;
      s.postgres_worker = nullptr;
      s.redis_worker = nullptr;
      s.writer_worker = nullptr;
      s.watch = nullptr;
      s.address = nullptr;
      // A worker that ran for a while had recovered: start the backoff over.
      if (std::chrono::steady_clock::now() - s.started > 2 * st.cfg.backoff.max)
        s.failures = 0;
      bool first = s.failures == 0;
      auto delay = st.cfg.backoff.delay(s.failures++, st.rng);
      st.cfg.metrics->worker_restarts.fetch_add(1, std::memory_order_relaxed);
      // Logged when a worker starts failing, not at every attempt after.
      if (first)
        st.cfg.log->warn("supervisor: {} worker {} stopped ({}); restarting with backoff, first in {} ms",
                     kind_name(s.what), i, self->system().render(dm.reason), delay.count());
      else
        st.cfg.log->debug("supervisor: {} worker {} stopped again (attempt {}); next in {} ms",
                      kind_name(s.what), i, s.failures, delay.count());
      announce(self, s.what);
      self->delayed_send(self, delay, atom::respawn::value, static_cast<uint64_t>(i));
      return;
    }
  });
  return {
    // Answered after the first pools were announced to the shards.
    // Answered once the shards know their workers and the dirty-key watch
    // gave them their first lease.
    [=](atom::get) -> caf::result<caf::ok_atom> {
      for (auto& s : self->state.slots)
        if (s.watch) {
          self->delegate(s.watch, atom::get::value);
          return caf::delegated<caf::ok_atom>{};
        }
      return caf::ok_atom::value;
    },
    // Drains every write-behind stream (shutdown); answers what Redis
    // holds of each stream when its writer stopped waiting.
    [=](atom::flush, int64_t deadline) -> caf::result<std::vector<stream_report>> {
      auto rp = self->make_response_promise();
      auto reports = std::make_shared<std::vector<stream_report>>();
      auto waiting = std::make_shared<std::size_t>(0);
      auto answer = [=](stream_report r) mutable {
        reports->push_back(std::move(r));
        if (--*waiting == 0)
          rp.deliver(std::move(*reports));
      };
      auto wait = std::chrono::nanoseconds(
        deadline - std::chrono::steady_clock::now().time_since_epoch().count());
      for (auto& s : self->state.slots) {
        if (!s.writer_worker)
          continue;
        ++*waiting;
        auto& w = self->state.cfg.writers[s.writer];
        auto stream = writer_streams_name(w.layout, w.ns.table, w.writer_index, w.ns.writers);
        auto streams = static_cast<int64_t>(
          groups_of_writer(w.writer_index, w.ns.writers, w.layout.groups).size());
        self->request(s.writer_worker, wait + std::chrono::seconds(2), atom::flush::value, deadline)
          .then([=](stream_report& r) mutable { answer(std::move(r)); },
                [=](caf::error& err) mutable {
                  stream_report r;
                  r.stream = stream;
                  r.streams = streams;
                  r.error = "its writer did not answer (" + self->system().render(err) + ")";
                  answer(std::move(r));
                });
      }
      // A writer being restarted has no stream to speak for: say so too.
      for (auto& s : self->state.slots)
        if (s.what == kind::writer && !s.writer_worker) {
          auto& w = self->state.cfg.writers[s.writer];
          stream_report r;
          r.stream = writer_streams_name(w.layout, w.ns.table, w.writer_index, w.ns.writers);
          r.streams = static_cast<int64_t>(
            groups_of_writer(w.writer_index, w.ns.writers, w.layout.groups).size());
          r.error = "its writer is restarting";
          reports->push_back(std::move(r));
        }
      if (*waiting == 0)
        rp.deliver(std::move(*reports));
      return caf::delegated<std::vector<stream_report>>{};
    },
    [=](atom::respawn, uint64_t i) {
      if (!self->state.stopping && i < self->state.slots.size() && !self->state.slots[i].address)
        spawn_slot(self, i);
    },
    // Stopping, and some worker has not exited by now: go without it.
    [=](atom::deadline) {
      auto& st = self->state;
      if (!st.stopping)
        return;
      st.cfg.log->warn("supervisor: {} workers did not exit within {} ms of the stop; going without "
                   "them", st.live->size(), st.cfg.stop_wait.count());
      self->quit(st.stop_reason);
    },
  };
}

}  // namespace wtcache
