// The Redis worker: the cache calls of backends/redis_cache.hpp, reads pipelined per round.
#include "actors/redis_worker.hpp"

#include <unistd.h>

#include <caf/behavior.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "backends/redis_cache.hpp"
#include "core/deadline.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"

namespace wtcache {

namespace {

using answer = std::pair<caf::typed_response_promise<std::vector<cache_entry>>,
                         caf::expected<std::vector<cache_entry>>>;

// The answers of one pipelined round. Most go to connections and shards,
// which are brokers: each one answered from this thread costs a write to
// the multiplexer's wake-up pipe and a read on the other side. Handed to the
// multiplexer thread as one job instead, they cost one pipe write between
// them, and each delivery there is a queue append.
void deliver_all(caf::actor_system& sys, std::vector<answer> answers) {
  auto deliver = [](std::vector<answer>& all) {
    for (auto& [promise, result] : all) {
      if (result)
        promise.deliver(std::move(*result));
      else
        promise.deliver(result.error());
    }
  };
  if (answers.size() < 2 || !sys.has_middleman()) {
    deliver(answers);
    return;
  }
  sys.middleman().backend().post(
    [all = std::move(answers), deliver]() mutable { deliver(all); });
}

}  // namespace

redis_worker_actor::behavior_type
redis_worker(redis_worker_actor::stateful_pointer<redis_worker_state> self,
             redis_worker_settings cfg) {
  block_sigpipe_on_this_thread();  // detached: this is the worker's own thread
  self->state.metrics = std::move(cfg.metrics);
  self->state.log = std::move(cfg.log);
  self->state.redis = redis_connection(std::move(cfg.endpoint), cfg.timeout);
  if (auto* m = self->state.metrics.get())
    self->state.redis.count_into(&m->redis_redirections, &m->redis_slot_map_loads);
  return {
    [=](atom::get, std::vector<std::string>& keys,
        int64_t deadline) -> caf::result<std::vector<cache_entry>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      auto& reads = self->state.reads;
      if (reads.empty())
        self->send(self, atom::flush::value);
      reads.push_back({std::move(keys), self->make_response_promise<std::vector<cache_entry>>(),
                       deadline});
      return reads.back().promise;
    },
    [=](atom::flush) {
      auto reads = std::move(self->state.reads);
      self->state.reads.clear();
      std::vector<std::string> keys;
      std::vector<bool> live(reads.size());
      for (std::size_t i = 0; i < reads.size(); ++i) {
        live[i] = !expired(reads[i].deadline);
        if (live[i])
          keys.insert(keys.end(), reads[i].keys.begin(), reads[i].keys.end());
        else
          reads[i].promise.deliver(make_error(ec::timeout, "redis request expired in the queue"));
      }
      if (keys.empty())
        return;
      auto res = [&] {
        busy_call busy(self->state.metrics.get(), &service_metrics::redis_in_use,
                       &service_metrics::cache_read_latency);
        return read_entries(self->state.redis, keys);
      }();
      std::vector<answer> answers;
      answers.reserve(reads.size());
      std::size_t at = 0;
      for (std::size_t i = 0; i < reads.size(); ++i) {
        auto& r = reads[i];
        if (!live[i])
          continue;
        if (!res) {
          answers.push_back({std::move(r.promise), res.error()});
          continue;
        }
        std::vector<cache_entry> mine(std::make_move_iterator(res->begin() + at),
                                      std::make_move_iterator(res->begin() + at + r.keys.size()));
        at += r.keys.size();
        answers.push_back({std::move(r.promise), std::move(mine)});
      }
      deliver_all(self->system(), std::move(answers));
    },
    [=](atom::probe, int64_t deadline) -> caf::result<std::vector<int64_t>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      return info_figures(self->state.redis);
    },
    [=](atom::open, int64_t deadline) -> caf::result<redis_sockets> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      auto opened = self->state.redis.open_sockets();
      if (!opened)
        return opened.error();
      if (expired(deadline)) {
        for (int fd : opened->fds)
          ::close(fd);
        return make_error(ec::timeout, "redis connection opened too late");
      }
      redis_sockets out;
      out.fds.assign(opened->fds.begin(), opened->fds.end());
      out.slot_socket = std::move(opened->slot_socket);
      return out;
    },
    [=](atom::put, const std::vector<cache_write>& writes,
        int64_t deadline) -> caf::result<std::vector<cache_write_result>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue");
      auto* m = self->state.metrics.get();
      busy_call busy(m, &service_metrics::redis_in_use, &service_metrics::cache_write_latency);
      return write_fenced(self->state.redis, writes, *self->state.log);
    },
    [=](atom::enqueue, const key_layout& layout, const std::vector<queued_write>& writes,
        int64_t deadline) -> caf::result<std::vector<queued_result>> {
      if (expired(deadline))
        return make_error(ec::timeout, "redis request expired in the queue; nothing was written");
      auto* m = self->state.metrics.get();
      busy_call busy(m, &service_metrics::redis_in_use, &service_metrics::cache_write_latency);
      return enqueue(self->state.redis, layout, writes);
    },
  };
}

}  // namespace wtcache
