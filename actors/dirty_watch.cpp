// The dirty-key watch: reads wtcache_dirty_keys every lease/4 and renews the lease.
#include "actors/dirty_watch.hpp"

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/postgres_worker.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"

namespace wtcache {

using self_ptr = caf::stateful_actor<dirty_watch_state>*;
using clock_type = std::chrono::steady_clock;

namespace {

void look(self_ptr self) {
  auto& st = self->state;
  // The lease counts from before the question: the answer is at least that fresh.
  auto asked = clock_type::now();
  auto next = st.cfg.lease / 4;
  self->request(st.db, st.cfg.lease, atom::dirty::value)
    .then(
      [=](dirty_records& all) {
        auto& st = self->state;
        auto lease_until = (asked + st.cfg.lease).time_since_epoch().count();
        bool overflow = all.keys.size() >= max_dirty_records;
        std::vector<dirty_records> per_shard(st.cfg.shards.size());
        for (std::size_t i = 0; i < all.keys.size(); ++i) {
          auto& mine = per_shard[shard_of(all.keys[i], st.cfg.shards.size())];
          mine.keys.push_back(std::move(all.keys[i]));
          mine.versions.push_back(all.versions[i]);
        }
        // Connections read the count only under a lease stored after it.
        auto& h = *st.cfg.health;
        h.shared_dirty.store(overflow ? max_dirty_records : all.keys.size());
        for (std::size_t s = 0; s < st.cfg.shards.size(); ++s)
          self->send(st.cfg.shards[s], atom::dirty::value, std::move(per_shard[s]), lease_until,
                     overflow);
        h.lease_until.store(lease_until);
        if (st.failing)
          st.cfg.log->info("dirty-key watch: reading wtcache_dirty_keys again; cached reads are "
                       "trusted again");
        st.failing = false;
        if (!st.ready) {
          st.ready = true;
          for (auto& rp : st.waiting)
            rp.deliver(caf::ok_atom::value);
          st.waiting.clear();
        }
        self->delayed_send(self, next, atom::tick::value);
      },
      [=](caf::error& err) {
        auto& st = self->state;
        // The shards' leases run out by themselves: their write-through
        // reads go to PostgreSQL (or, while it is down, still to the cache:
        // on_database_failure = "serve-cached").
        if (!st.failing)
          st.cfg.log->warn("dirty-key watch: cannot read wtcache_dirty_keys ({}); write-through "
                       "reads bypass the cache until it can",
                       client_error_text(err));
        st.failing = true;
        self->delayed_send(self, next, atom::tick::value);
      });
}

}  // namespace

caf::behavior dirty_watch(self_ptr self, dirty_watch_settings cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  // Reads and deletes only: its Redis connection is never opened.
  postgres_worker_settings db;
  db.url = st.cfg.postgres_url;
  db.spaces = st.cfg.spaces;
  db.statement_timeout = st.cfg.postgres_timeout;
  st.db = self->spawn<caf::detached + caf::linked>(postgres_worker, std::move(db));
  look(self);
  return {
    [=](atom::tick) { look(self); },
    [=](atom::get) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      if (st.ready)
        return caf::ok_atom::value;
      st.waiting.push_back(self->make_response_promise());
      return caf::delegated<caf::ok_atom>{};
    },
  };
}

}  // namespace wtcache
