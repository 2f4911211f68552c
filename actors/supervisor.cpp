#include "actors/supervisor.hpp"

#include <algorithm>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/postgres_worker.hpp"
#include "actors/redis_worker.hpp"
#include "messages/atoms.hpp"

namespace wtcache {

using self_ptr = caf::stateful_actor<supervisor_state>*;

namespace {

void announce(self_ptr self, bool postgres) {
  auto& st = self->state;
  std::vector<caf::actor> pool;
  for (auto& s : st.slots)
    if (s.postgres == postgres && s.worker)
      pool.push_back(s.worker);
  for (auto& shard : st.cfg.shards)
    self->send(shard, atom::workers::value, std::string(postgres ? "postgres" : "redis"), pool);
}

void spawn_slot(self_ptr self, std::size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  if (s.postgres)
    s.worker = self->spawn<caf::detached + caf::monitored>(
      postgres_worker, st.cfg.postgres_url, st.cfg.spaces, st.cfg.postgres_timeout);
  else
    s.worker = self->spawn<caf::detached + caf::monitored>(redis_worker, st.cfg.redis,
                                                           st.cfg.redis_timeout);
  s.started = std::chrono::steady_clock::now();
  st.live->push_back(s.worker);
  announce(self, s.postgres);
}

}  // namespace

caf::behavior supervisor(self_ptr self, supervisor_settings cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  for (std::size_t i = 0; i < st.cfg.postgres_pool; ++i)
    st.slots.push_back({true, {}, 0, {}});
  for (std::size_t i = 0; i < st.cfg.redis_pool; ++i)
    st.slots.push_back({false, {}, 0, {}});
  for (std::size_t i = 0; i < st.slots.size(); ++i)
    spawn_slot(self, i);
  self->attach_functor([live = st.live] {
    for (auto& w : *live)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto& live = *st.live;
    live.erase(std::remove_if(live.begin(), live.end(),
                              [&](const caf::actor& w) { return w.address() == dm.source; }),
               live.end());
    for (std::size_t i = 0; i < st.slots.size(); ++i) {
      auto& s = st.slots[i];
      if (!s.worker || s.worker.address() != dm.source)
        continue;
      s.worker = nullptr;
      // A worker that ran for a while had recovered: start the backoff over.
      if (std::chrono::steady_clock::now() - s.started > 2 * st.cfg.backoff.max)
        s.failures = 0;
      auto delay = st.cfg.backoff.delay(s.failures++, st.rng);
      st.cfg.metrics->worker_restarts.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("supervisor: {} worker {} stopped ({}); restarting in {} ms",
                   s.postgres ? "postgres" : "redis", i, self->system().render(dm.reason),
                   delay.count());
      announce(self, s.postgres);
      self->delayed_send(self, delay, atom::respawn::value, static_cast<uint64_t>(i));
      return;
    }
  });
  return {
    // Answered after the first pools were announced to the shards.
    [=](atom::get) { return caf::ok_atom::value; },
    [=](atom::respawn, uint64_t i) {
      if (i < self->state.slots.size() && !self->state.slots[i].worker)
        spawn_slot(self, i);
    },
  };
}

}  // namespace wtcache
