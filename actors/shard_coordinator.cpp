#include "actors/shard_coordinator.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/broker_mailbox.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

using self_ptr = shard_self*;
using clock_type = std::chrono::steady_clock;

void shard_state::mark_dirty(const std::string& key, int64_t version, bool shared) {
  auto [it, inserted] = dirty.emplace(key, dirty_mark{version, ++dirty_generation, shared});
  if (inserted) {
    cfg.health->marked.fetch_add(1);
    return;
  }
  // 0 ("unknown, draw a fresh version") absorbs everything: a fresh version
  // is above any that could have committed.
  auto& d = it->second;
  d.version = (d.version == 0 || version == 0) ? 0 : std::max(d.version, version);
  d.generation = dirty_generation;
  d.shared = d.shared || shared;
}

void shard_state::clear_dirty_upto(const std::string& key, int64_t version) {
  auto it = dirty.find(key);
  if (it != dirty.end() && it->second.version != 0 && it->second.version <= version)
    clear_dirty(it);
}

void shard_state::clear_dirty(std::unordered_map<std::string, dirty_mark>::iterator it) {
  dirty.erase(it);
  cfg.health->marked.fetch_sub(1);
}

int64_t shard_state::ttl_ms(std::size_t ns) const {
  auto t = cfg.spaces->at(ns).ttl;
  return clamp_ttl((t.count() > 0 ? t : cfg.default_ttl).count());
}

int64_t shard_state::clamp_ttl(int64_t ms) const {
  // An entry must outlive any fill that read an older row and is still on
  // its way (a fill runs within redis_timeout of being sent, or not at all):
  // once the entry expired, the fence could no longer stop that fill.
  auto floor = 2 * cfg.redis_timeout.count();
  return ms <= 0 ? 0 : std::max(ms, floor);
}

queued_write shard_state::make_queued(const key_write& w) const {
  auto match = cfg.spaces->resolve(w.key);
  const auto& ns = cfg.spaces->at(match.index);
  queued_write q;
  q.kind = w.kind;
  q.key = w.key;
  q.value = w.value;
  q.delta = w.delta;
  q.ttl_ms = w.kind == op_kind::set && w.ttl_ms >= 0 ? clamp_ttl(w.ttl_ms) : ttl_ms(match.index);
  q.redis_key = redis_key(w.key);
  q.stream = queue_stream(cfg.redis_prefix, ns, stream_of(w.key, ns.writers));
  q.stats = queue_stats(cfg.redis_prefix, ns);
  q.max_entries = static_cast<int64_t>(ns.max_queue_entries);
  q.max_bytes = static_cast<int64_t>(ns.max_queue_bytes);
  q.low_entries = static_cast<int64_t>(ns.low_watermark * static_cast<double>(ns.max_queue_entries));
  q.low_bytes = static_cast<int64_t>(ns.low_watermark * static_cast<double>(ns.max_queue_bytes));
  return q;
}

namespace {

int64_t deadline_after(std::chrono::milliseconds d) {
  return (clock_type::now() + d).time_since_epoch().count();
}

// A worker answers by the deadline it is given (it refuses work that would
// run past it); the shard waits this much longer before calling the outcome
// unknown, so that a late answer is rare and a late COMMIT impossible.
constexpr auto worker_margin = std::chrono::milliseconds(250);

// Reads and cache writes: a worker answers every request by the deadline it
// carries (a driver call blocks at most its socket or statement timeout),
// and a worker that dies bounces what is in its mailbox. So these requests
// need no CAF timer of their own, each of which costs the clock thread a
// wake-up to set and another to cancel (a fifth of the CPU under load).
constexpr auto by_its_deadline = caf::infinite;

template <class Handle>
Handle pick(std::vector<Handle>& pool, std::size_t& next) {
  if (pool.empty())
    return {};
  return pool[next++ % pool.size()];
}

// ---- backends: workers, circuit breakers --------------------------------

enum class backend { postgres, redis };

circuit_breaker& breaker_of(self_ptr self, backend b) {
  auto& h = *self->state.cfg.health;
  return b == backend::postgres ? h.postgres : h.redis;
}

// A worker to send to; none when the pool is empty or the backend's circuit
// is open (the request then fails at once instead of waiting for a timeout).
postgres_worker_actor postgres_for(self_ptr self) {
  auto& st = self->state;
  if (st.postgres_workers.empty() || !st.cfg.health->postgres.allow(clock_type::now()))
    return {};
  return pick(st.postgres_workers, st.next_postgres);
}

redis_worker_actor redis_for(self_ptr self) {
  auto& st = self->state;
  if (st.redis_workers.empty() || !st.cfg.health->redis.allow(clock_type::now()))
    return {};
  return pick(st.redis_workers, st.next_redis);
}

// Why there was no worker to send to.
caf::error unavailable(self_ptr self, backend b) {
  auto& st = self->state;
  bool none = b == backend::postgres ? st.postgres_workers.empty() : st.redis_workers.empty();
  auto code = b == backend::postgres ? ec::postgres_unavailable : ec::redis_unavailable;
  return make_error(code, none ? "no connection" : "circuit open, failing fast");
}

// A reply (or `err`) from a backend: feeds its breaker, and logs a change of
// state once. An error the backend answered with (a refused statement) means
// it is up.
void observed(self_ptr self, backend b, const caf::error* err = nullptr) {
  auto& br = breaker_of(self, b);
  auto now = clock_type::now();
  bool down = err && (*err == ec::postgres_unavailable || *err == ec::redis_unavailable ||
                      *err == ec::timeout || *err == ec::outcome_unknown ||
                      *err == caf::sec::request_timeout || *err == caf::sec::request_receiver_down);
  auto t = down ? br.failure(now) : br.success(now);
  const char* name = b == backend::postgres ? "postgres" : "redis";
  if (t.opened)
    spdlog::warn("{} circuit open after consecutive failures (last: {}); requests fail fast, "
                 "then one probe at a time",
                 name, client_error_text(*err));
  else if (t.closed)
    spdlog::info("{} circuit closed: the first request succeeded {} ms after it opened", name,
                 t.outage.count());
}

// Feeds the Redis breaker how a PostgreSQL worker's own Redis calls went
// (store_outcome::redis_reply); true when Redis did not answer.
bool observed_redis(self_ptr self, int8_t reply, const char* no_answer) {
  if (reply == store_outcome::answered) {
    observed(self, backend::redis);
  } else if (reply == store_outcome::no_answer) {
    auto err = make_error(ec::redis_unavailable, no_answer);
    observed(self, backend::redis, &err);
    return true;
  }
  return false;
}

// Tells the shard that owns `key` that this one committed it; a dirty mark
// is counted until that shard has it, so that no connection takes a cache
// hit of the key for granted meanwhile (actors/connection.cpp).
void tell_owner(self_ptr self, std::size_t owner, const std::string& key, int64_t version,
                bool cache_ok) {
  auto& st = self->state;
  if (!cache_ok)
    st.cfg.health->in_transit.fetch_add(1);
  self->send(st.peers[owner], atom::committed::value, key, version, cache_ok);
}

// Deletes records of wtcache_dirty_keys whose tombstones are in. One-way,
// so no breaker probe is spent on it (its answer would never reach the
// breaker); a lost delete only means the next look marks the keys again.
void forget_records(self_ptr self, dirty_records done) {
  auto& st = self->state;
  if (!st.postgres_workers.empty())
    self->send(pick(st.postgres_workers, st.next_postgres), atom::clear::value, std::move(done));
}

// A failed write request whose transaction may have committed.
bool outcome_may_be_committed(const caf::error& err) {
  if (err == ec::outcome_unknown)
    return true;
  // The worker may still be running the transaction, or died mid-COMMIT.
  return err == caf::sec::request_timeout || err == caf::sec::request_receiver_down;
}

void schedule_retry(self_ptr self);

// Asks a test hook, if set, before going on with `next`.
template <class F>
void through_gate(self_ptr self, const caf::actor& gate, const std::string& key, F next) {
  if (!gate) {
    next();
    return;
  }
  self->request(gate, std::chrono::seconds(30), atom::gate::value, key)
    .then([next](caf::ok_atom) mutable { next(); },
          [next](caf::error&) mutable { next(); });
}

// ---- reads ----------------------------------------------------------------

// Answers everyone waiting on read `id`; from now on GETs of `key` start a
// read of their own.
void finish_read(self_ptr self, uint64_t id, const std::string& key,
                 const caf::expected<lookup>& answer) {
  auto& st = self->state;
  auto open = st.open_reads.find(key);
  if (open != st.open_reads.end() && open->second == id)
    st.open_reads.erase(open);
  auto node = st.read_waiters.find(id);
  if (node == st.read_waiters.end())
    return;
  auto waiters = std::move(node->second);
  st.read_waiters.erase(node);
  for (auto& rp : waiters) {
    if (answer)
      rp.deliver(*answer);
    else
      rp.deliver(answer.error());
  }
}

void fill_then_finish(self_ptr self, uint64_t id, std::string key, std::size_t ns, store_row row) {
  auto& st = self->state;
  lookup answer{true, row.value};
  auto worker = redis_for(self);
  if (!worker) {
    finish_read(self, id, key, answer);
    return;
  }
  std::vector<cache_write> fill{{st.redis_key(key), row.version, false, std::move(row.value),
                                 st.ttl_ms(ns)}};
  st.cfg.metrics->fills.fetch_add(1, std::memory_order_relaxed);
  self->request(worker, by_its_deadline, atom::put::value, std::move(fill),
                deadline_after(st.cfg.redis_timeout))
    .then(
      [=](const std::vector<cache_write_result>& rs) {
        observed(self, backend::redis);
        if (!rs.empty() && rs[0] == cache_write_result::fenced)
          self->state.cfg.metrics->fenced_cache_writes.fetch_add(1, std::memory_order_relaxed);
        finish_read(self, id, key, answer);
      },
      [=](caf::error& err) {
        observed(self, backend::redis, &err);
        finish_read(self, id, key, answer);
      });
}

// Reads the row; joins the read of the same key already in flight if any.
// `may_fill` is false while the key is dirty or Redis failed: those reads
// still share one database read, but only a read that may fill does.
void read_through(self_ptr self, const std::string& key, caf::response_promise rp,
                  bool may_fill) {
  auto& st = self->state;
  auto open = st.open_reads.find(key);
  if (open != st.open_reads.end()) {
    st.read_waiters[open->second].push_back(std::move(rp));
    return;
  }
  auto id = st.next_read_id++;
  st.read_waiters[id].push_back(std::move(rp));
  st.open_reads[key] = id;
  auto match = st.cfg.spaces->resolve(key);
  auto ns = match.index;
  auto worker = postgres_for(self);
  if (!worker) {
    finish_read(self, id, key, unavailable(self, backend::postgres));
    return;
  }
  st.cfg.metrics->db_reads.fetch_add(1, std::memory_order_relaxed);
  self->request(worker, by_its_deadline, atom::get::value,
                static_cast<uint32_t>(ns), std::string(match.id),
                deadline_after(st.cfg.postgres_timeout))
    .then(
      [=](store_row& row) {
        observed(self, backend::postgres);
        auto& st = self->state;
        auto open = st.open_reads.find(key);
        // Still the read new GETs join: no write to the key has committed
        // since it started, so its result may fill the cache. It stays
        // joinable until the fill is done (the fence makes the fill safe
        // anyway; this only saves a pointless one).
        bool current = open != st.open_reads.end() && open->second == id;
        if (!row.found) {
          finish_read(self, id, key, lookup{false, {}});
          return;
        }
        if (!current || !may_fill || st.dirty.count(key)) {
          finish_read(self, id, key, lookup{true, std::move(row.value)});
          return;
        }
        through_gate(self, st.cfg.hooks.before_fill, key,
                     [=]() mutable { fill_then_finish(self, id, key, ns, std::move(row)); });
      },
      [=](caf::error& err) {
        observed(self, backend::postgres, &err);
        finish_read(self, id, key, err);
      });
}

// A write-behind key's newest value may exist only in Redis (queued, not yet
// in PostgreSQL): without Redis, its database row is no answer.
bool redis_only_truth(const shard_state& st, const std::string& key) {
  return st.cfg.spaces->at(st.cfg.spaces->resolve(key).index).mode == write_mode::write_behind;
}

// Whether this node's look at wtcache_dirty_keys is recent enough to trust
// a cached write-through value. While PostgreSQL is known to be down the
// cache is trusted anyway (on_database_failure = "serve-cached"; "fail"
// refuses those reads before they get here): nothing can commit meanwhile.
bool cache_trusted(self_ptr self) {
  auto& st = self->state;
  auto now = clock_type::now();
  if (!st.dirty_overflow && now.time_since_epoch().count() < st.lease_until)
    return true;
  return st.cfg.health->postgres.current(now) == circuit_breaker::state::open;
}

caf::result<lookup> handle_get(self_ptr self, const std::string& key) {
  auto& st = self->state;
  if (st.cfg.refuse_reads_without_database &&
      st.cfg.health->postgres.current(clock_type::now()) == circuit_breaker::state::open)
    return make_error(ec::postgres_unavailable, "on_database_failure = fail");
  auto rp = self->make_response_promise();
  if (st.dirty.count(key)) {
    st.cfg.metrics->miss(st.cfg.spaces->resolve(key).index);
    read_through(self, key, rp, false);
    return caf::delegated<lookup>{};
  }
  if (!redis_only_truth(st, key) && !cache_trusted(self)) {
    // Another node may have committed a newer value that it could not
    // invalidate: the database answers (and its row may fill the cache:
    // the fill carries the row's version, so it can only move forward).
    st.cfg.metrics->miss(st.cfg.spaces->resolve(key).index);
    read_through(self, key, rp, true);
    return caf::delegated<lookup>{};
  }
  auto worker = redis_for(self);
  if (!worker) {
    if (redis_only_truth(st, key)) {
      rp.deliver(unavailable(self, backend::redis));
      return caf::delegated<lookup>{};
    }
    st.cfg.metrics->miss(st.cfg.spaces->resolve(key).index);
    read_through(self, key, rp, false);
    return caf::delegated<lookup>{};
  }
  self->request(worker, by_its_deadline, atom::get::value,
                std::vector<std::string>{st.redis_key(key)}, deadline_after(st.cfg.redis_timeout))
    .then(
      [=](std::vector<cache_entry>& es) mutable {
        observed(self, backend::redis);
        auto& m = *self->state.cfg.metrics;
        if (!es.empty() && es[0].present && !es[0].tombstone && !self->state.dirty.count(key)) {
          m.hit(self->state.cfg.spaces->resolve(key).index);
          // A write-behind DEL not yet in PostgreSQL: the row may still be
          // there, but the key is gone.
          if (es[0].deleted)
            rp.deliver(lookup{false, {}});
          else
            rp.deliver(lookup{true, std::move(es[0].data)});
          return;
        }
        m.miss(self->state.cfg.spaces->resolve(key).index);
        read_through(self, key, rp, true);
      },
      [=](caf::error& err) mutable {
        observed(self, backend::redis, &err);
        if (redis_only_truth(self->state, key)) {
          rp.deliver(err);
          return;
        }
        // Redis is unreachable: the database still answers, without a fill.
        self->state.cfg.metrics->miss(self->state.cfg.spaces->resolve(key).index);
        read_through(self, key, rp, false);
      });
  return caf::delegated<lookup>{};
}

// ---- writes ---------------------------------------------------------------

struct batch {
  std::vector<shard_state::pending_write> writes;
  std::vector<store_op> ops;
  std::vector<std::string> keys;    // the client key of each op
  std::vector<int64_t> ttl_ms;      // SET ... EX/PX of each op, -1 if none
};

void flush(self_ptr self);
void watch_batch(self_ptr self);

void answer_batch(self_ptr self, std::shared_ptr<batch> b,
                  const std::vector<store_result>& results) {
  auto& m = *self->state.cfg.metrics;
  std::size_t k = 0;
  auto now = clock_type::now();
  for (auto& w : b->writes) {
    std::vector<int64_t> answer;
    std::string error;
    for (std::size_t i = 0; i < w.request.writes.size(); ++i, ++k) {
      if (!results[k].error.empty())
        error = results[k].error;
      answer.push_back(b->ops[k].kind == op_kind::set ? results[k].version : results[k].count);
    }
    m.write_latency.record(std::chrono::duration_cast<std::chrono::microseconds>(now - w.received));
    if (error.empty()) {
      m.writes.fetch_add(1, std::memory_order_relaxed);
      w.promise.deliver(std::move(answer));
    } else {
      m.write_errors.fetch_add(1, std::memory_order_relaxed);
      w.promise.deliver(make_error(ec::client_error, std::move(error)));
    }
  }
}

// `recorded_at`: the batch recorded its keys in wtcache_dirty_keys and
// committed by then; its replies wait until every node's lease from before
// that has run out. The next batch need not wait for them.
void finish_batch(self_ptr self, std::shared_ptr<batch> b, std::vector<store_result> results,
                  std::optional<clock_type::time_point> recorded_at = std::nullopt) {
  auto& st = self->state;
  auto release = recorded_at ? *recorded_at + st.cfg.dirty_lease : clock_type::now();
  if (release > clock_type::now()) {
    auto id = st.next_held++;
    st.held.emplace(id, [=] { answer_batch(self, b, results); });
    self->delayed_send(self, release - clock_type::now(), atom::release::value, id);
  } else {
    answer_batch(self, b, results);
  }
  st.batch_in_flight = false;
  flush(self);
}

// The database committed and the worker updated the cache (newest version
// per key): tell other shards about their keys, then answer.
void after_commit(self_ptr self, std::shared_ptr<batch> b, store_outcome outcome) {
  auto& st = self->state;
  std::optional<clock_type::time_point> recorded_at;
  if (outcome.recorded) {
    recorded_at = clock_type::now();
    st.cfg.metrics->writes_recorded.fetch_add(b->writes.size(), std::memory_order_relaxed);
  }
  const auto& keys = outcome.cached.keys;
  const auto& versions = outcome.cached.versions;
  if (observed_redis(self, outcome.cache_redis, "no answer to the cache update after COMMIT"))
    spdlog::warn("shard {}: cache update after commit failed; {} key(s) marked dirty", st.cfg.index,
                 keys.size());
  dirty_records done;  // recorded keys the cache update has just covered
  for (std::size_t i = 0; i < keys.size(); ++i) {
    // Reads that started before this commit must not be joined any more.
    st.open_reads.erase(keys[i]);
    bool ok = i < outcome.cache.size() && outcome.cache[i] != cache_write_result::failed;
    if (!ok)
      st.cfg.metrics->cache_write_failures.fetch_add(1, std::memory_order_relaxed);
    else if (outcome.cache[i] == cache_write_result::fenced)
      st.cfg.metrics->fenced_cache_writes.fetch_add(1, std::memory_order_relaxed);
    if (ok && outcome.recorded) {
      done.keys.push_back(keys[i]);
      done.versions.push_back(versions[i]);
    }
    auto owner = shard_of(keys[i], st.cfg.shard_count);
    if (owner != st.cfg.index && owner < st.peers.size())
      tell_owner(self, owner, keys[i], versions[i], ok);
    else if (ok)
      st.clear_dirty_upto(keys[i], versions[i]);
    else
      st.mark_dirty(keys[i], versions[i], outcome.recorded);
  }
  if (!done.keys.empty())
    forget_records(self, std::move(done));
  if (!st.dirty.empty())
    schedule_retry(self);
  finish_batch(self, b, std::move(outcome.results), recorded_at);
}

void batch_failed(self_ptr self, std::shared_ptr<batch> b, const caf::error& err) {
  auto& st = self->state;
  caf::error answer = err;
  if (outcome_may_be_committed(err)) {
    // No lies: the client learns the outcome is unknown, and the keys are
    // invalidated (at a fresh version) so no reader trusts an older copy.
    for (auto& key : b->keys) {
      st.open_reads.erase(key);
      auto owner = shard_of(key, st.cfg.shard_count);
      if (owner != st.cfg.index && owner < st.peers.size())
        tell_owner(self, owner, key, 0, false);
      else
        st.mark_dirty(key, 0);
    }
    schedule_retry(self);
    if (err != ec::outcome_unknown)
      answer = make_error(ec::outcome_unknown,
                          "the transaction or its cache update did not finish in time");
  }
  st.cfg.metrics->write_errors.fetch_add(b->writes.size(), std::memory_order_relaxed);
  for (auto& w : b->writes)
    w.promise.deliver(answer);
  st.batch_in_flight = false;
  flush(self);
}

void flush(self_ptr self) {
  auto& st = self->state;
  if (st.batch_in_flight || st.pending.empty())
    return;
  // Writes whose client has already been answered (deadline passed while
  // queued) are dropped: they never run, so "outcome unknown" stays true.
  auto now = clock_type::now();
  auto queued_before = st.pending.size();
  auto expired_end = std::stable_partition(st.pending.begin(), st.pending.end(),
                                           [&](const auto& w) { return w.deadline < now; });
  for (auto it = st.pending.begin(); it != expired_end; ++it) {
    st.cfg.metrics->write_errors.fetch_add(1, std::memory_order_relaxed);
    it->promise.deliver(make_error(ec::timeout, "waited past its deadline in the queue; "
                                                "nothing was written"));
  }
  st.pending.erase(st.pending.begin(), expired_end);
  if (st.pending.empty()) {
    st.cfg.metrics->queued_writes.fetch_sub(queued_before, std::memory_order_relaxed);
    return;
  }
  // One batch takes whole commands up to max_batch_ops operations (at least
  // one command); the rest wait for the next.
  auto b = std::make_shared<batch>();
  std::size_t take = 0, ops = 0;
  while (take < st.pending.size() &&
         (take == 0 || ops + st.pending[take].request.writes.size() <= st.cfg.max_batch_ops))
    ops += st.pending[take++].request.writes.size();
  b->writes.assign(std::make_move_iterator(st.pending.begin()),
                   std::make_move_iterator(st.pending.begin() + static_cast<std::ptrdiff_t>(take)));
  st.pending.erase(st.pending.begin(), st.pending.begin() + static_cast<std::ptrdiff_t>(take));
  st.cfg.metrics->queued_writes.fetch_sub(queued_before - st.pending.size(),
                                          std::memory_order_relaxed);
  uint32_t group = 0;
  for (auto& w : b->writes) {
    for (auto& kw : w.request.writes) {
      auto match = st.cfg.spaces->resolve(kw.key);
      store_op op;
      op.kind = kw.kind;
      op.ns = static_cast<uint32_t>(match.index);
      op.id = std::string(match.id);
      op.value = std::move(kw.value);  // the request needs it no more
      op.delta = kw.delta;
      op.group = group;
      b->ops.push_back(std::move(op));
      b->keys.push_back(kw.key);
      b->ttl_ms.push_back(kw.ttl_ms);
    }
    ++group;
  }
  // on_cache_failure = "fail": while Redis is down, refuse rather than let
  // the cache lag behind the database (nothing is written).
  if (st.cfg.refuse_writes_without_cache &&
      (st.redis_workers.empty() || st.cfg.health->redis.current(clock_type::now()) ==
                                     circuit_breaker::state::open)) {
    batch_failed(self, b, make_error(ec::redis_unavailable, "on_cache_failure = fail: nothing was written"));
    return;
  }
  auto worker = postgres_for(self);
  if (!worker) {
    batch_failed(self, b, unavailable(self, backend::postgres));
    return;
  }
  st.batch_in_flight = true;
  // The transaction puts tombstones in before it commits (or records the
  // keys, when Redis is unreachable): messages/store_protocol.hpp.
  invalidation inv;
  inv.keys = b->keys;
  inv.redis_prefix = st.cfg.redis_prefix;
  inv.tombstone_ttl_ms = st.cfg.tombstone_ttl.count();
  inv.required = st.cfg.refuse_writes_without_cache;
  // SET ... EX/PX applies to the cache copy; only the key's newest write
  // decides it.
  inv.cache_ttl_ms.reserve(b->ops.size());
  for (std::size_t k = 0; k < b->ops.size(); ++k)
    inv.cache_ttl_ms.push_back(b->ops[k].kind == op_kind::set && b->ttl_ms[k] >= 0
                                 ? st.clamp_ttl(b->ttl_ms[k])
                                 : st.ttl_ms(b->ops[k].ns));
  inv.before_cache_write = st.cfg.hooks.before_cache_write;
  // Whether to try Redis before COMMIT: not while its circuit is open. (Not
  // allow(): that would take the half-open probe, and this answer reaches
  // the breaker only when the transaction gets as far as the tombstones.)
  bool use_cache = !st.redis_workers.empty() &&
                   st.cfg.health->redis.current(clock_type::now()) !=
                     circuit_breaker::state::open;
  auto number = ++st.batch_number;
  // The transaction, then the cache update after COMMIT.
  st.batch_give_up =
    clock_type::now() + st.cfg.postgres_timeout + st.cfg.redis_timeout + worker_margin;
  st.give_up_batch = [=] {
    auto err = make_error(caf::sec::request_timeout);
    observed(self, backend::postgres, &err);
    batch_failed(self, b, err);
  };
  watch_batch(self);
  // Ignores an answer to a transaction already given up on.
  auto current = [=] {
    auto& st = self->state;
    if (st.batch_number != number || !st.give_up_batch)
      return false;
    st.give_up_batch = nullptr;
    return true;
  };
  self->request(worker, caf::infinite, atom::put::value, b->ops,
                deadline_after(st.cfg.postgres_timeout), use_cache, std::move(inv))
    .then(
      [=](store_outcome& outcome) {
        if (!current())
          return;
        observed(self, backend::postgres);
        observed_redis(self, outcome.redis, "no answer to the tombstones before COMMIT");
        self->state.cfg.metrics->db_transactions.fetch_add(1, std::memory_order_relaxed);
        after_commit(self, b, std::move(outcome));
      },
      [=](caf::error& err) {
        if (!current())
          return;
        observed(self, backend::postgres, &err);
        batch_failed(self, b, err);
      });
}

void watch_batch(self_ptr self) {
  auto& st = self->state;
  if (st.batch_watchdog_armed || !st.give_up_batch)
    return;
  st.batch_watchdog_armed = true;
  self->delayed_send(self, st.batch_give_up - clock_type::now(), atom::deadline::value);
}

void on_batch_watchdog(self_ptr self) {
  auto& st = self->state;
  st.batch_watchdog_armed = false;
  if (!st.give_up_batch)
    return;
  if (clock_type::now() < st.batch_give_up) {
    watch_batch(self);  // a later transaction than the one it was set for
    return;
  }
  auto give_up = std::move(st.give_up_batch);
  st.give_up_batch = nullptr;
  give_up();
}

// ---- write-behind ---------------------------------------------------------

void flush_queue(self_ptr self);

// A command's answer: one number per key, as for write-through.
std::vector<int64_t> queued_numbers(const std::vector<queued_write>& ops,
                                    const std::vector<queued_result>& rs, std::size_t first) {
  std::vector<int64_t> out;
  for (std::size_t i = 0; i < ops.size(); ++i)
    out.push_back(ops[i].kind == op_kind::set ? rs[first + i].version : rs[first + i].count);
  return out;
}

// Reads the rows the script asked for, then sends the commands again, the
// one that asked first.
void load_then_resume(self_ptr self) {
  auto& st = self->state;
  auto& head = st.wb_pending.front();
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < head.ops.size(); ++i)
    if (head.ops[i].loaded == queued_write::not_loaded && head.ops[i].kind != op_kind::set)
      todo.push_back(i);
  auto fail_head = [=](const caf::error& err) {
    auto& st = self->state;
    st.cfg.metrics->write_errors.fetch_add(1, std::memory_order_relaxed);
    st.wb_pending.front().promise.deliver(err);
    st.wb_pending.pop_front();
    st.cfg.metrics->queued_writes.fetch_sub(1, std::memory_order_relaxed);
    st.wb_in_flight = false;
    flush_queue(self);
  };
  if (todo.empty()) {  // cannot happen: the script asks only for DEL and INCR
    fail_head(make_error(ec::redis_error, "the enqueue script asked for a load it cannot use"));
    return;
  }
  auto worker = postgres_for(self);
  if (!worker) {
    fail_head(unavailable(self, backend::postgres));
    return;
  }
  auto left = std::make_shared<std::size_t>(todo.size());
  auto failed = std::make_shared<caf::error>();
  for (auto i : todo) {
    auto match = st.cfg.spaces->resolve(head.ops[i].key);
    st.cfg.metrics->db_reads.fetch_add(1, std::memory_order_relaxed);
    auto done = [=] {
      if (--*left > 0)
        return;
      if (*failed) {
        fail_head(*failed);
        return;
      }
      self->state.wb_in_flight = false;
      flush_queue(self);
    };
    self->request(worker, by_its_deadline, atom::get::value,
                  static_cast<uint32_t>(match.index), std::string(match.id),
                  deadline_after(st.cfg.postgres_timeout))
      .then(
        [=](store_row& row) {
          observed(self, backend::postgres);
          // The head is still the command that asked: nothing runs while
          // a load is on its way.
          auto& op = self->state.wb_pending.front().ops[i];
          op.loaded = row.found ? queued_write::loaded_found : queued_write::loaded_absent;
          op.loaded_value = std::move(row.value);
          op.loaded_version = row.version;
          done();
        },
        [=](caf::error& err) {
          observed(self, backend::postgres, &err);
          if (!*failed)
            *failed = err;
          done();
        });
  }
}

void queue_answered(self_ptr self, std::shared_ptr<std::vector<shard_state::pending_enqueue>> cmds,
                    const std::vector<queued_result>& rs) {
  auto& st = self->state;
  auto& m = *st.cfg.metrics;
  auto now = clock_type::now();
  std::size_t k = 0, ci = 0;
  for (; ci < cmds->size(); ++ci) {
    auto& c = (*cmds)[ci];
    auto status = rs[k].status;
    for (std::size_t i = 0; i < c.ops.size(); ++i)
      if (rs[k + i].status == queued_status::needs_load)
        status = queued_status::needs_load;
    if (status == queued_status::needs_load || status == queued_status::not_run)
      break;
    m.queued_writes.fetch_sub(1, std::memory_order_relaxed);
    m.write_latency.record(std::chrono::duration_cast<std::chrono::microseconds>(now - c.received));
    if (status == queued_status::done) {
      for (std::size_t i = 0; i < c.ops.size(); ++i) {
        auto& key = c.ops[i].key;
        auto owner = shard_of(key, st.cfg.shard_count);
        if (owner != st.cfg.index && owner < st.peers.size())
          self->send(st.peers[owner], atom::committed::value, key, rs[k + i].version, true);
        else
          st.open_reads.erase(key);  // a read that started before must not fill
      }
      m.writes.fetch_add(1, std::memory_order_relaxed);
      c.promise.deliver(queued_numbers(c.ops, rs, k));
    } else {
      m.write_errors.fetch_add(1, std::memory_order_relaxed);
      if (status == queued_status::busy)
        c.promise.deliver(make_error(ec::busy, "write-behind queue full"));
      else
        c.promise.deliver(make_error(ec::client_error, rs[k].error));
    }
    k += c.ops.size();
  }
  // Not run yet: back to the front, in order; the first may need rows loaded.
  bool load = ci < cmds->size();
  for (auto i = cmds->size(); i > ci; --i)
    st.wb_pending.push_front(std::move((*cmds)[i - 1]));
  if (load) {
    load_then_resume(self);
    return;
  }
  st.wb_in_flight = false;
  flush_queue(self);
}

void flush_queue(self_ptr self) {
  auto& st = self->state;
  if (st.wb_in_flight || st.wb_pending.empty())
    return;
  auto now = clock_type::now();
  auto cmds = std::make_shared<std::vector<shard_state::pending_enqueue>>();
  std::size_t ops = 0;
  while (!st.wb_pending.empty() &&
         (cmds->empty() || ops + st.wb_pending.front().ops.size() <= st.cfg.max_batch_ops)) {
    auto c = std::move(st.wb_pending.front());
    st.wb_pending.pop_front();
    if (c.deadline < now) {
      st.cfg.metrics->queued_writes.fetch_sub(1, std::memory_order_relaxed);
      st.cfg.metrics->write_errors.fetch_add(1, std::memory_order_relaxed);
      c.promise.deliver(make_error(ec::timeout, "waited past its deadline in the queue; "
                                                "nothing was written"));
      continue;
    }
    ops += c.ops.size();
    cmds->push_back(std::move(c));
  }
  if (cmds->empty())
    return;
  std::vector<queued_write> batch;
  batch.reserve(ops);
  uint32_t group = 0;
  for (auto& c : *cmds) {
    for (auto& op : c.ops) {
      batch.push_back(op);
      batch.back().group = group;
    }
    ++group;
  }
  auto fail_all = [=](const caf::error& err) {
    auto& st = self->state;
    for (auto& c : *cmds) {
      st.cfg.metrics->queued_writes.fetch_sub(1, std::memory_order_relaxed);
      st.cfg.metrics->write_errors.fetch_add(1, std::memory_order_relaxed);
      c.promise.deliver(err);
    }
    st.wb_in_flight = false;
    flush_queue(self);
  };
  auto worker = redis_for(self);
  if (!worker) {
    fail_all(unavailable(self, backend::redis));
    return;
  }
  st.wb_in_flight = true;
  self->request(worker, st.cfg.redis_timeout + worker_margin, atom::enqueue::value,
                st.cfg.redis_prefix, std::move(batch), deadline_after(st.cfg.redis_timeout))
    .then(
      [=](const std::vector<queued_result>& rs) {
        observed(self, backend::redis);
        queue_answered(self, cmds, rs);
      },
      [=](caf::error& err) {
            observed(self, backend::redis, &err);
            // No answer in time: the script may have run.
            if (err == caf::sec::request_timeout || err == caf::sec::request_receiver_down)
              err = make_error(ec::outcome_unknown, "no answer from redis in time");
            fail_all(err);
          });
}

// ---- dirty keys -----------------------------------------------------------

void retry_dirty(self_ptr self);

void schedule_retry(self_ptr self) {
  auto& st = self->state;
  if (st.retry_scheduled || st.dirty.empty())
    return;
  st.retry_scheduled = true;
  auto delay = st.cfg.retry_backoff.delay(st.retry_attempt, st.rng);
  self->delayed_send(self, delay, atom::tick::value);
}

void write_tombstones(self_ptr self, int64_t fresh) {
  auto& st = self->state;
  std::vector<cache_write> writes;
  std::vector<std::string> keys;
  std::vector<uint64_t> generations;
  for (auto& [key, mark] : st.dirty) {
    cache_write w;
    w.redis_key = st.redis_key(key);
    w.version = mark.version == 0 ? fresh : mark.version;
    w.tombstone = true;
    w.ttl_ms = st.cfg.tombstone_ttl.count();
    writes.push_back(std::move(w));
    keys.push_back(key);
    generations.push_back(mark.generation);
  }
  auto worker = redis_for(self);
  auto failed = [=] {
    auto& st = self->state;
    ++st.retry_attempt;
    schedule_retry(self);
  };
  if (!worker || writes.empty()) {
    failed();
    return;
  }
  self->request(worker, by_its_deadline, atom::put::value, writes,
                deadline_after(st.cfg.redis_timeout))
    .then(
      [=](const std::vector<cache_write_result>& rs) {
        observed(self, backend::redis);
        auto& st = self->state;
        dirty_records done;
        for (std::size_t i = 0; i < keys.size(); ++i) {
          auto it = st.dirty.find(keys[i]);
          // Only if nothing re-dirtied the key while the tombstone was on its way.
          if (rs[i] != cache_write_result::failed && it != st.dirty.end() &&
              it->second.generation == generations[i]) {
            if (it->second.shared) {
              done.keys.push_back(keys[i]);
              done.versions.push_back(writes[i].version);
            }
            st.clear_dirty(it);
          }
        }
        // The records may go now: the tombstones are in. (Lost deletes are
        // harmless: the next look marks the keys again.)
        if (!done.keys.empty())
          forget_records(self, std::move(done));
        st.retry_attempt = st.dirty.empty() ? 0 : st.retry_attempt + 1;
        if (st.dirty.empty())
          spdlog::info("shard {}: dirty keys invalidated; the cache is trusted again",
                       st.cfg.index);
        schedule_retry(self);
      },
      [=](caf::error& err) {
        observed(self, backend::redis, &err);
        failed();
      });
}

void retry_dirty(self_ptr self) {
  auto& st = self->state;
  st.retry_scheduled = false;
  if (st.dirty.empty())
    return;
  bool need_fresh = std::any_of(st.dirty.begin(), st.dirty.end(),
                                [](auto& kv) { return kv.second.version == 0; });
  if (!need_fresh) {
    write_tombstones(self, 0);
    return;
  }
  auto worker = postgres_for(self);
  if (!worker) {
    ++st.retry_attempt;
    schedule_retry(self);
    return;
  }
  self->request(worker, st.cfg.postgres_timeout + worker_margin, atom::version::value)
    .then(
      [=](int64_t fresh) {
        observed(self, backend::postgres);
        write_tombstones(self, fresh);
      },
      [=](caf::error& err) {
            observed(self, backend::postgres, &err);
            ++self->state.retry_attempt;
            schedule_retry(self);
          });
}

}  // namespace

shard_actor::behavior_type shard_coordinator(self_ptr self, shard_settings cfg) {
  close_mailbox_at_exit(self);
  self->state.cfg = std::move(cfg);
  return {
    [=](atom::get, const std::string& key) -> caf::result<lookup> {
      return handle_get(self, key);
    },
    [=](atom::put, write_request& req) -> caf::result<std::vector<int64_t>> {
      auto& st = self->state;
      auto now = clock_type::now();
      const auto& first = req.writes.front().key;
      if (st.cfg.spaces->at(st.cfg.spaces->resolve(first).index).mode == write_mode::write_behind) {
        if (st.wb_pending.size() >= st.cfg.max_queued_writes)
          return make_error(ec::busy, "write queue full; retry later");
        // Made only once the write is taken: a promise takes over the reply.
        shard_state::pending_enqueue c{{}, self->make_response_promise(), now,
                                       now + st.cfg.request_timeout};
        for (auto& w : req.writes)
          c.ops.push_back(st.make_queued(w));
        st.wb_pending.push_back(std::move(c));
        st.cfg.metrics->queued_writes.fetch_add(1, std::memory_order_relaxed);
        flush_queue(self);
        return caf::delegated<std::vector<int64_t>>{};
      }
      if (st.pending.size() >= st.cfg.max_queued_writes)
        return make_error(ec::busy, "write queue full; retry later");
      st.pending.push_back({std::move(req), self->make_response_promise(), now,
                            now + st.cfg.request_timeout});
      st.cfg.metrics->queued_writes.fetch_add(1, std::memory_order_relaxed);
      flush(self);
      return caf::delegated<std::vector<int64_t>>{};
    },
    [=](atom::committed, const std::string& key, int64_t version, bool cache_ok) {
      auto& st = self->state;
      st.open_reads.erase(key);
      if (cache_ok) {
        st.clear_dirty_upto(key, version);
      } else {
        st.mark_dirty(key, version);
        st.cfg.health->in_transit.fetch_sub(1);
        schedule_retry(self);
      }
    },
    [=](atom::tick) { retry_dirty(self); },
    [=](atom::deadline) { on_batch_watchdog(self); },
    [=](atom::dirty, const dirty_records& recorded, int64_t lease_until, bool overflow) {
      auto& st = self->state;
      for (std::size_t i = 0; i < recorded.keys.size(); ++i) {
        auto it = st.dirty.find(recorded.keys[i]);
        if (it == st.dirty.end() || (it->second.version != 0 &&
                                     it->second.version < recorded.versions[i]))
          st.mark_dirty(recorded.keys[i], recorded.versions[i], true);
        else
          it->second.shared = true;
      }
      st.lease_until = lease_until;
      st.dirty_overflow = overflow;
      schedule_retry(self);
    },
    [=](atom::release, uint64_t id) {
      auto& held = self->state.held;
      auto it = held.find(id);
      if (it == held.end())
        return;
      auto answer = std::move(it->second);
      held.erase(it);
      answer();
    },
    [=](atom::workers, std::vector<postgres_worker_actor> pool) {
      self->state.postgres_workers = std::move(pool);
    },
    [=](atom::workers, std::vector<redis_worker_actor> pool) {
      self->state.redis_workers = std::move(pool);
    },
    [=](atom::peers, const std::vector<caf::actor>& peers) {
      self->state.peers.clear();
      for (auto& p : peers)
        self->state.peers.push_back(caf::actor_cast<shard_actor>(p));
    },
    // How many workers this shard knows (the service waits for them at start).
    [=](atom::workers) {
      return std::vector<uint64_t>{self->state.postgres_workers.size(),
                                   self->state.redis_workers.size()};
    },
  };
}

}  // namespace wtcache
