// The reaper: finds expired rows, deletes them through the write path.
#include "actors/reaper.hpp"

#include <caf/behavior.hpp>
#include <spdlog/spdlog.h>

#include "messages/atoms.hpp"
#include "messages/errors.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

using self_ptr = caf::stateful_actor<reaper_state>*;

reaper_settings reaper_settings_from(const config& cfg) {
  reaper_settings s;
  s.log = logger_of(cfg);
  s.interval = cfg.reap_interval;
  s.batch = cfg.reap_batch;
  s.request_timeout = cfg.request_timeout;
  return s;
}

namespace {

void next_round(self_ptr self, bool at_once) {
  if (at_once)
    self->send(self, atom::tick::value);
  else
    self->delayed_send(self, self->state.cfg.interval, atom::tick::value);
}

void failed(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (!st.failing)
    st.cfg.log->warn("reaper: cannot delete expired rows now ({}); trying again every {} ms",
                 client_error_text(err), st.cfg.interval.count());
  st.failing = true;
  next_round(self, false);
}

void round(self_ptr self) {
  auto& st = self->state;
  scan_request find;
  find.what = scan_request::expired;
  find.count = static_cast<int64_t>(st.cfg.batch);
  self->request(st.cfg.shards.front(), st.cfg.request_timeout, atom::scan::value, find)
    .then(
      [=](scan_page& page) {
        auto& st = self->state;
        if (page.keys.empty()) {
          st.failing = false;
          next_round(self, false);
          return;
        }
        // One DEL command per write mode: a write-through one commits in
        // one transaction, a write-behind one is queued (and decided).
        write_request dels[2];
        for (auto& k : page.keys) {
          key_write w;
          w.kind = op_kind::del;
          w.flags = op_flag::expired;
          w.key = std::move(k);
          auto behind = st.cfg.spaces->at(st.cfg.spaces->resolve(w.key).index).mode ==
                        write_mode::write_behind;
          dels[behind ? 1 : 0].writes.push_back(std::move(w));
        }
        bool full = page.keys.size() >= st.cfg.batch;
        auto left = std::make_shared<int>(0);
        auto error = std::make_shared<caf::error>();
        auto deleted = std::make_shared<uint64_t>(0);
        // A full page again at once only if each part deleted something:
        // a write-behind row stays until its queued DEL is persisted, and a
        // page of those found again must not make the rounds back to back.
        auto stuck = std::make_shared<bool>(false);
        auto one_done = [=] {
          if (--*left > 0)
            return;
          self->state.cfg.metrics->expired_rows_deleted.fetch_add(*deleted,
                                                                   std::memory_order_relaxed);
          if (*error) {
            failed(self, *error);
            return;
          }
          self->state.failing = false;
          next_round(self, full && !*stuck);
        };
        for (auto& req : dels)
          if (!req.writes.empty())
            ++*left;
        for (auto& req : dels) {
          if (req.writes.empty())
            continue;
          auto lead = shard_of(req.writes.front().key, st.cfg.shards.size());
          self->request(st.cfg.shards[lead], 2 * st.cfg.request_timeout, atom::put::value,
                        std::move(req))
            .then(
              [=](const std::vector<write_answer>& answers) {
                uint64_t n = 0;
                for (auto& a : answers)
                  n += a.number > 0 ? 1 : 0;
                *deleted += n;
                *stuck = *stuck || n == 0;
                one_done();
              },
              [=](caf::error& err) {
                *error = err;
                one_done();
              });
        }
      },
      [=](caf::error& err) { failed(self, err); });
}

}  // namespace

caf::behavior reaper(self_ptr self, reaper_settings cfg) {
  self->state.cfg = std::move(cfg);
  next_round(self, true);
  return {
    [=](atom::tick) { round(self); },
  };
}

}  // namespace wtcache
