// The shard coordinator: wires the state machines of core/ to the workers and peers.
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
#include "core/deadline.hpp"
#include "core/read_route.hpp"
#include "core/string_ops.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"
#include "messages/store_protocol.hpp"

namespace wtcache {

using self_ptr = shard_self*;
using clock_type = std::chrono::steady_clock;

shard_settings shard_settings_from(const config& cfg) {
  shard_settings s;
  s.log = logger_of(cfg);
  s.shard_count = cfg.shards;
  s.redis_keys = cfg.redis_keys();
  s.default_ttl = cfg.default_ttl;
  s.tombstone_ttl = cfg.tombstone_ttl;
  s.postgres_timeout = cfg.postgres_timeout;
  s.redis_timeout = cfg.redis_timeout;
  s.request_timeout = cfg.request_timeout;
  s.max_batch_ops = cfg.max_batch_ops;
  s.max_queued_writes = cfg.max_queued_writes;
  s.retry_backoff = cfg.restart_backoff;
  s.refuse_writes_without_cache = cfg.refuse_writes_without_cache;
  s.refuse_reads_without_database = cfg.refuse_reads_without_database;
  s.dirty_lease = cfg.dirty_lease;
  s.max_value_bytes = cfg.max_value_bytes;
  return s;
}

int64_t shard_state::ttl_ms(std::size_t ns) const {
  auto t = cfg.spaces->at(ns).ttl;
  return clamp_ttl((t.count() > 0 ? t : cfg.default_ttl).count());
}

int64_t shard_state::cache_ttl_of(op_kind kind, expiry_change expiry, int64_t expiry_ms,
                                  std::size_t ns) const {
  // expiry = "value": the PostgreSQL worker bounds this by the value's
  // expiry. "cache": SET's EX/PX/EXAT/PXAT is the cache copy's TTL.
  if (kind != op_kind::set || cfg.spaces->at(ns).expiry == expiry_mode::value)
    return ttl_ms(ns);
  if (expiry == expiry_change::in)
    return clamp_ttl(expiry_ms);
  if (expiry == expiry_change::at)
    return clamp_ttl(std::max<int64_t>(expiry_ms - unix_now_ms(), 1));
  return ttl_ms(ns);
}

void shard_state::keep_mark(const std::string& key, const std::string& mark, int64_t version) {
  auto& left = unreleased_marks[key];
  if (left.size() < 16)  // more lapse on their own
    left.emplace_back(mark, version);
}

std::vector<std::string> shard_state::marks_covered(const std::string& key, int64_t version) {
  std::vector<std::string> out;
  auto at = unreleased_marks.find(key);
  if (at == unreleased_marks.end())
    return out;
  auto& left = at->second;
  auto newer = std::stable_partition(left.begin(), left.end(),
                                     [&](const auto& m) { return m.second > version; });
  for (auto it = newer; it != left.end(); ++it)
    out.push_back(it->first);
  left.erase(newer, left.end());
  if (left.empty())
    unreleased_marks.erase(at);
  return out;
}

int64_t shard_state::clamp_ttl(int64_t ms) const {
  return ms <= 0 ? 0 : std::max(ms, shortest_entry_ttl_ms(cfg.redis_timeout));
}

queued_write shard_state::make_queued(const key_write& w) const {
  auto match = cfg.spaces->resolve(w.key);
  const auto& ns = cfg.spaces->at(match.index);
  queued_write q;
  q.kind = w.kind;
  q.key = w.key;
  q.value = w.value;
  q.delta = w.delta;
  q.flags = w.flags;
  q.expiry = w.expiry;
  q.expiry_ms = w.expiry_ms;
  q.part = w.part;
  q.ttl_ms = cache_ttl_of(w.kind, w.expiry, w.expiry_ms, match.index);
  // The script decides a plain SET, DEL and INCR by itself; the rest, and in
  // an expiry = "value" namespace all but a SET that sets or clears the
  // expiry, the shard decides (decide_and_queue).
  bool plain = (w.kind == op_kind::set || w.kind == op_kind::del || w.kind == op_kind::incr) &&
               w.flags == 0;
  if (ns.expiry == expiry_mode::value) {
    plain = w.kind == op_kind::set && w.flags == 0 && w.expiry != expiry_change::keep;
    if (plain && w.expiry == expiry_change::in)
      q.expires_ms = unix_now_ms() + w.expiry_ms;
    else if (plain && w.expiry == expiry_change::at)
      q.expires_ms = w.expiry_ms;
  }
  q.decided = !plain;
  q.redis_key = redis_key(w.key);
  // The key's group holds its stream and counters, and its share of the
  // namespace's queue limits.
  auto g = cfg.redis_keys.group_of(w.key);
  q.stream = cfg.redis_keys.stream(ns.table, g);
  q.stats = cfg.redis_keys.stats(ns.table, g);
  auto entries = group_share(ns.max_queue_entries, cfg.redis_keys.groups);
  auto bytes = group_share(ns.max_queue_bytes, cfg.redis_keys.groups);
  q.max_entries = static_cast<int64_t>(entries);
  q.max_bytes = static_cast<int64_t>(bytes);
  q.low_entries = static_cast<int64_t>(ns.low_watermark * static_cast<double>(entries));
  q.low_bytes = static_cast<int64_t>(ns.low_watermark * static_cast<double>(bytes));
  return q;
}

namespace {

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
    self->state.cfg.log->warn("{} circuit open after consecutive failures (last: {}); requests fail fast, "
                 "then one probe at a time",
                 name, client_error_text(*err));
  else if (t.closed)
    self->state.cfg.log->info("{} circuit closed: the first request succeeded {} ms after it opened", name,
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

// ---- committed keys -------------------------------------------------------

void schedule_retry(self_ptr self);

// The owner of `key` (this shard, or another by message) learns that it
// committed at `version` (0: unknown), and whether its cache copy is
// current: reads of it that began before may no longer fill the cache, and
// it is dirty unless `cache_ok`. A dirty mark on its way to another shard
// is counted in node health until that shard has it, so that no connection
// takes a cache hit of the key for granted meanwhile.
void key_committed(self_ptr self, const std::string& key, int64_t version, bool cache_ok,
                   bool recorded = false);

// What the owner does with that news (atom::committed from another shard).
void on_committed(self_ptr self, const std::string& key, int64_t version, bool cache_ok,
                  bool recorded) {
  auto& st = self->state;
  st.reads.invalidate(key);
  if (cache_ok) {
    st.dirty.cached(key, version);
  } else {
    st.dirty.mark_dirty(key, version, recorded);
    schedule_retry(self);
  }
}

void key_committed(self_ptr self, const std::string& key, int64_t version, bool cache_ok,
                   bool recorded) {
  auto& st = self->state;
  auto owner = shard_of(key, st.cfg.shard_count);
  if (owner == st.cfg.index || owner >= st.peers.size()) {
    on_committed(self, key, version, cache_ok, recorded);
    return;
  }
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

// Answers every command of `cmds` with `err`; they count as failed writes.
template <class Commands>
void fail_all(self_ptr self, Commands& cmds, const caf::error& err) {
  self->state.cfg.metrics->write_errors.fetch_add(cmds.size(), std::memory_order_relaxed);
  for (auto& c : cmds)
    c.ticket.deliver(err);
}

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

void start_read(self_ptr self, const std::string& key, uint64_t id);

// Answers everyone waiting on read `id` of `key` (`row`: what it read, for
// the GETs that wait for a newer read), then starts the next read if GETs
// arrived while it was out.
void finish_read(self_ptr self, uint64_t id, const std::string& key,
                 const caf::expected<lookup>& answer, int64_t row_version = 0) {
  single_flight<caf::response_promise>::result r;
  r.failed = !answer;
  r.found = answer && answer->found;
  r.version = row_version;
  auto done = self->state.reads.finish(key, id, r);
  for (auto& rp : done.waiters) {
    if (answer)
      rp.deliver(*answer);
    else
      rp.deliver(answer.error());
  }
  if (done.next != 0)
    start_read(self, key, done.next);
}

void fill_then_finish(self_ptr self, uint64_t id, std::string key, std::size_t ns, store_row row) {
  auto& st = self->state;
  lookup answer{true, row.value};
  auto version = row.version;
  // The cache copy never outlives the value (the Redis worker cuts its TTL
  // to the expiry when it writes it); one about to expire is not cached.
  int64_t expire_by = 0;
  bool too_short = false;
  if (row.expires_ms >= 0) {
    expire_by = row.read_ns + (row.expires_ms - row.now_ms) * 1'000'000;
    auto left = (expire_by - clock_type::now().time_since_epoch().count()) / 1'000'000;
    too_short = left < st.clamp_ttl(1);
  }
  auto worker = redis_for(self);
  if (!worker || too_short) {
    finish_read(self, id, key, answer, version);
    return;
  }
  cache_write entry;
  entry.redis_key = st.redis_key(key);
  entry.version = row.version;
  entry.data = std::move(row.value);
  entry.ttl_ms = st.ttl_ms(ns);
  entry.expire_by_ns = expire_by;
  std::vector<cache_write> fill{std::move(entry)};
  // A write-behind key's entry is its newest state: it keeps the expiry.
  if (st.cfg.spaces->at(ns).mode == write_mode::write_behind)
    fill[0].expires_ms = row.expires_ms;
  st.cfg.metrics->fills.fetch_add(1, std::memory_order_relaxed);
  self->request(worker, by_its_deadline, atom::put::value, std::move(fill),
                deadline_after(st.cfg.redis_timeout))
    .then(
      [=](const std::vector<cache_write_result>& rs) {
        observed(self, backend::redis);
        if (!rs.empty() && rs[0] == cache_write_result::fenced)
          self->state.cfg.metrics->fenced_cache_writes.fetch_add(1, std::memory_order_relaxed);
        finish_read(self, id, key, answer, version);
      },
      [=](caf::error& err) {
        observed(self, backend::redis, &err);
        finish_read(self, id, key, answer, version);
      });
}

// Reads the row, or waits for the next read of it (core/single_flight.hpp).
// `may_fill` is false while the key is dirty or Redis failed: those reads
// still share database reads, but only a read all of whose GETs may fill
// does. `seen`: the version of the tombstone the GET found (0: none).
void read_through(self_ptr self, const std::string& key, caf::response_promise rp,
                  bool may_fill, int64_t seen = 0) {
  auto& st = self->state;
  st.cfg.metrics->miss(st.cfg.spaces->resolve(key).index);
  auto flight = st.reads.join(key, std::move(rp), seen, may_fill);
  if (flight.first)
    start_read(self, key, flight.id);
}

void start_read(self_ptr self, const std::string& key, uint64_t id) {
  auto& st = self->state;
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
        // A write-behind key's expiry is judged by this node's clock, as
        // every other command of it judges it (state_of); PostgreSQL's
        // may be behind.
        bool expired_here = st.cfg.spaces->at(ns).mode == write_mode::write_behind &&
                            expired_by(row.expires_ms, unix_now_ms());
        if (!row.found || expired_here) {
          finish_read(self, id, key, lookup{false, {}});
          return;
        }
        // Still current: no write to the key has committed since the read
        // began, so its row may fill the cache. (The fence makes a fill
        // safe anyway; this only saves a pointless one.)
        if (!st.reads.current(key, id) || !st.reads.may_fill(key, id) || st.dirty.contains(key)) {
          auto version = row.version;
          finish_read(self, id, key, lookup{true, std::move(row.value)}, version);
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

// Asks a PostgreSQL worker (message `xs`, then the deadline) and answers
// with `to_answer` of its `Reply`: the shard's part in TTL and the keyspace
// commands, which bypass the cache.
template <class Answer, class Reply, class ToAnswer, class... Ts>
caf::result<Answer> via_postgres(self_ptr self, ToAnswer to_answer, Ts&&... xs) {
  auto worker = postgres_for(self);
  if (!worker)
    return unavailable(self, backend::postgres);
  auto rp = self->make_response_promise();
  self->request(worker, by_its_deadline, std::forward<Ts>(xs)...,
                deadline_after(self->state.cfg.postgres_timeout))
    .then(
      [=](Reply& reply) mutable {
        observed(self, backend::postgres);
        rp.deliver(to_answer(std::move(reply)));
      },
      [=](caf::error& err) mutable {
        observed(self, backend::postgres, &err);
        rp.deliver(err);
      });
  return caf::delegated<Answer>{};
}

// Reads the rows of `keys` (client keys) from PostgreSQL, side by side,
// and calls `done` once: with them in the same order, or the first error.
using rows_or_error = caf::expected<std::vector<store_row>>;
template <class Done>
void read_rows(self_ptr self, const std::vector<std::string>& keys, Done done) {
  auto finish = std::make_shared<Done>(std::move(done));
  if (keys.empty()) {
    (*finish)(rows_or_error{std::vector<store_row>{}});
    return;
  }
  auto worker = postgres_for(self);
  if (!worker) {
    (*finish)(rows_or_error{unavailable(self, backend::postgres)});
    return;
  }
  auto& st = self->state;
  auto rows = std::make_shared<std::vector<store_row>>(keys.size());
  auto left = std::make_shared<std::size_t>(keys.size());
  auto failed = std::make_shared<caf::error>();
  auto one_done = [=] {
    if (--*left > 0)
      return;
    if (*failed)
      (*finish)(rows_or_error{*failed});
    else
      (*finish)(rows_or_error{std::move(*rows)});
  };
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto match = st.cfg.spaces->resolve(keys[i]);
    st.cfg.metrics->db_reads.fetch_add(1, std::memory_order_relaxed);
    self->request(worker, by_its_deadline, atom::get::value, static_cast<uint32_t>(match.index),
                  std::string(match.id), deadline_after(st.cfg.postgres_timeout))
      .then(
        [=](store_row& row) {
          observed(self, backend::postgres);
          (*rows)[i] = std::move(row);
          one_done();
        },
        [=](caf::error& err) {
          observed(self, backend::postgres, &err);
          if (!*failed)
            *failed = err;
          one_done();
        });
  }
}

// ---- the newest state of write-behind keys --------------------------------
//
// Redis holds a write-behind key's newest value or DEL (pending, or cached
// at the row's version); when its entry holds neither (none, or a
// tombstone), the row does. SET NX, APPEND, EXEC... of write-behind keys
// decide from it, and WATCH takes its version.

// Whether the entry holds the key's newest state (a value or a DEL).
bool holds_state(const cache_entry& e) { return e.present && !e.tombstone; }

// The key's state as the shard decides from it: the entry's, if it holds
// a value or a DEL, else the row's, with its expiry judged by this node's
// clock (`now_ms`). An expired value is absent (and `expired`, for the
// reaper's DEL); with expiry = "cache" no value has an expiry.
current_row state_of(const cache_entry& e, const store_row& row, int64_t now_ms) {
  current_row r;
  bool live = false;
  if (holds_state(e)) {
    live = !e.deleted;
    r.value = e.data;
    r.version = e.version;
    r.expires_ms = e.expires_ms;
  } else {
    live = row.found;
    r.value = row.value;
    r.version = row.version;
    r.expires_ms = row.expires_ms;
  }
  r.expired = live && expired_by(r.expires_ms, now_ms);
  r.exists = live && !r.expired;
  if (!r.exists) {
    r.value.clear();
    r.version = 0;
    r.expires_ms = -1;
  }
  r.now_ms = now_ms;
  return r;
}

struct newest {
  std::vector<cache_entry> entries;  // per key, as Redis has it
  std::vector<store_row> rows;       // per key: its row, where the entry holds no state
};
using newest_or_error = caf::expected<newest>;

// Reads the entries of `redis_keys` (of the client keys `keys`), then the
// rows of the keys whose entry holds no state, and calls `done` once.
template <class Done>
void read_newest(self_ptr self, std::vector<std::string> keys, std::vector<std::string> redis_keys,
                 Done done) {
  auto worker = redis_for(self);
  if (!worker) {
    done(newest_or_error{unavailable(self, backend::redis)});
    return;
  }
  auto& st = self->state;
  auto n = keys.size();
  self->request(worker, by_its_deadline, atom::get::value, std::move(redis_keys),
                deadline_after(st.cfg.redis_timeout))
    .then(
      [=](std::vector<cache_entry>& es) mutable {
        observed(self, backend::redis);
        if (es.size() != n) {
          done(newest_or_error{make_error(ec::redis_error, "no answer for every key from redis")});
          return;
        }
        auto got = std::make_shared<newest>();
        got->entries = std::move(es);
        got->rows.assign(n, store_row{});
        std::vector<std::size_t> todo;
        std::vector<std::string> todo_keys;
        for (std::size_t i = 0; i < n; ++i)
          if (!holds_state(got->entries[i])) {
            todo.push_back(i);
            todo_keys.push_back(keys[i]);
          }
        read_rows(self, todo_keys, [=](rows_or_error rows) mutable {
          if (!rows) {
            done(newest_or_error{rows.error()});
            return;
          }
          for (std::size_t j = 0; j < todo.size(); ++j)
            got->rows[todo[j]] = std::move((*rows)[j]);
          done(newest_or_error{std::move(*got)});
        });
      },
      [=](caf::error& err) mutable {
        observed(self, backend::redis, &err);
        done(newest_or_error{err});
      });
}

caf::result<lookup> newest_of_write_behind(self_ptr self, const std::string& key);

// TTL and its relatives, and WATCH: the row as PostgreSQL has it, never the
// cache; but a write-behind key's newest state may be in Redis only.
caf::result<lookup> read_with_expiry(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto match = st.cfg.spaces->resolve(key);
  if (st.cfg.spaces->at(match.index).mode == write_mode::write_behind)
    return newest_of_write_behind(self, key);
  st.cfg.metrics->db_reads.fetch_add(1, std::memory_order_relaxed);
  return via_postgres<lookup, store_row>(
    self,
    [](store_row row) {
      return lookup{row.found, std::move(row.value), row.expires_ms, row.now_ms,
                    row.found ? row.version : 0};
    },
    atom::get::value, static_cast<uint32_t>(match.index), std::string(match.id));
}

// A write-behind key's newest state, with its version: what WATCH records
// and an EXEC of write-behind keys checks (the same state_of).
caf::result<lookup> newest_of_write_behind(self_ptr self, const std::string& key) {
  auto rp = self->make_response_promise();
  read_newest(self, {key}, {self->state.redis_key(key)}, [=](newest_or_error got) mutable {
    if (!got) {
      rp.deliver(got.error());
      return;
    }
    auto r = state_of(got->entries[0], got->rows[0], unix_now_ms());
    rp.deliver(lookup{r.exists, std::move(r.value), r.expires_ms, r.now_ms, r.version});
  });
  return caf::delegated<lookup>{};
}

// What decides a GET's route here (core/read_route.hpp), for this key now.
read_facts facts_of(self_ptr self, const std::string& key, bool cache_checked) {
  auto& st = self->state;
  auto now = clock_type::now();
  read_facts f;
  // A write-behind key's newest value may exist only in Redis (queued, not
  // yet in PostgreSQL): without Redis, its database row is no answer.
  f.write_behind =
    st.cfg.spaces->at(st.cfg.spaces->resolve(key).index).mode == write_mode::write_behind;
  f.dirty = st.dirty.contains(key);
  // This node's look at wtcache_dirty_keys is recent enough. While
  // PostgreSQL is known to be down the cache is trusted anyway
  // (on_database_failure = "serve-cached"): nothing can commit meanwhile.
  f.cache_trusted = (!st.dirty_overflow && now.time_since_epoch().count() < st.lease_until) ||
                    st.cfg.health->postgres.current(now) == circuit_breaker::state::open;
  f.cache_checked = cache_checked;
  f.refuse_without_database = st.cfg.refuse_reads_without_database;
  f.database_down = st.cfg.health->postgres.current(now) == circuit_breaker::state::open;
  return f;
}

// Follows a route that does not read Redis.
caf::result<lookup> answer_without_cache(self_ptr self, const std::string& key, read_route route,
                                         caf::response_promise rp, int64_t seen = 0) {
  switch (route) {
    case read_route::need_database:
      return make_error(ec::postgres_unavailable, "on_database_failure = fail");
    case read_route::need_redis:
      rp.deliver(unavailable(self, backend::redis));
      return caf::delegated<lookup>{};
    default:
      read_through(self, key, rp, route == read_route::fill, seen);
      return caf::delegated<lookup>{};
  }
}

// `seen`: the version of the tombstone the connection found (0: none).
caf::result<lookup> handle_get(self_ptr self, const std::string& key, bool cache_checked,
                               int64_t seen) {
  auto facts = facts_of(self, key, cache_checked);
  auto route = route_read(facts);
  if (route == read_route::need_database)
    return answer_without_cache(self, key, route, {});
  auto rp = self->make_response_promise();
  if (route != read_route::cache)
    return answer_without_cache(self, key, route, rp, seen);
  auto worker = redis_for(self);
  if (!worker)
    return answer_without_cache(self, key, without_redis(facts), rp);
  auto& st = self->state;
  self->request(worker, by_its_deadline, atom::get::value,
                std::vector<std::string>{st.redis_key(key)}, deadline_after(st.cfg.redis_timeout))
    .then(
      [=](std::vector<cache_entry>& es) mutable {
        observed(self, backend::redis);
        auto& st = self->state;
        if (!es.empty() && es[0].present && !es[0].tombstone && !st.dirty.contains(key)) {
          st.cfg.metrics->hit(st.cfg.spaces->resolve(key).index);
          // A write-behind DEL (or expired value) not yet in PostgreSQL:
          // the row may still be there, but the key is gone.
          if (absent_at(es[0], unix_now_ms()))
            rp.deliver(lookup{false, {}});
          else
            rp.deliver(lookup{true, std::move(es[0].data)});
          return;
        }
        bool tombstone = !es.empty() && es[0].present && es[0].tombstone;
        read_through(self, key, rp, true, tombstone ? es[0].version : 0);
      },
      [=](caf::error& err) mutable {
        observed(self, backend::redis, &err);
        auto route = without_redis(facts);
        if (route == read_route::need_redis)
          rp.deliver(err);
        else
          read_through(self, key, rp, false);
      });
  return caf::delegated<lookup>{};
}

// ---- writes ---------------------------------------------------------------

// A write that only takes mark `id` away from `entry` (fence.lua's kind "r").
cache_write release_of(const std::string& entry, const std::string& id) {
  cache_write w;
  w.redis_key = entry;
  w.mark = id;
  w.release = true;
  return w;
}

using pending_write = group_commit<caf::response_promise>::pending;

struct batch {
  std::vector<pending_write> writes;
  transaction_plan plan;
  // Committed, and no longer the shard's transaction in flight: the next
  // one has gone or may go (group_commit::committed). Its cache update and
  // answer are still to come.
  bool released = false;
};

void flush(self_ptr self);

void answer_batch(self_ptr self, std::shared_ptr<batch> b,
                  const std::vector<store_result>& results) {
  auto& m = *self->state.cfg.metrics;
  std::size_t k = 0;
  auto now = clock_type::now();
  for (auto& w : b->writes) {
    std::vector<write_answer> answer;
    std::string error;
    for (std::size_t i = 0; i < w.request.writes.size(); ++i, ++k) {
      const auto& r = results[k];
      if (!r.error.empty())
        error = r.error;
      write_answer a{b->plan.ops[k].kind == op_kind::set ? r.version : r.count, r.applied,
                     r.found, r.bulk, {}, r.version, r.expires_ms, r.now_ms};
      if (w.request.transaction)
        a.error = r.error;  // EXEC: each part answers for itself
      answer.push_back(std::move(a));
    }
    m.write_latency.record(std::chrono::duration_cast<std::chrono::microseconds>(now - w.received));
    if (error.empty() || w.request.transaction) {
      m.writes.fetch_add(1, std::memory_order_relaxed);
      w.ticket.deliver(std::move(answer));
    } else {
      m.write_errors.fetch_add(1, std::memory_order_relaxed);
      w.ticket.deliver(make_error(ec::client_error, std::move(error)));
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
  if (!b->released)
    st.writes.done();
  flush(self);
}

// The cache update of committed keys is over: `cache` says how each key's
// write went (empty or short: not made, the rest dirty). Tells the keys'
// owners.
void cache_updated(self_ptr self, const dirty_records& cached,
                   const std::vector<cache_write_result>& cache, int8_t redis, bool recorded,
                   const std::string& mark) {
  auto& st = self->state;
  const auto& keys = cached.keys;
  const auto& versions = cached.versions;
  if (observed_redis(self, redis, "no answer to the cache update after COMMIT"))
    st.cfg.log->warn("shard {}: cache update after commit failed; {} key(s) marked dirty",
                     st.cfg.index, keys.size());
  dirty_records done;  // recorded keys the cache update has just covered
  std::vector<cache_write> releases;  // marks of earlier failed updates, now moot
  for (std::size_t i = 0; i < keys.size(); ++i) {
    bool ok = i < cache.size() && cache[i] != cache_write_result::failed;
    if (!ok && !mark.empty() && shard_of(keys[i], st.cfg.shard_count) == st.cfg.index) {
      st.keep_mark(keys[i], mark, versions[i]);
    } else if (ok) {
      // The key holds this write's copy (or a newer one): the marks its
      // failed predecessors left may go, not those of newer writes.
      for (auto& id : st.marks_covered(keys[i], versions[i]))
        releases.push_back(release_of(st.redis_key(keys[i]), id));
    }
    if (!ok)
      st.cfg.metrics->cache_write_failures.fetch_add(1, std::memory_order_relaxed);
    else if (cache[i] == cache_write_result::fenced)
      st.cfg.metrics->fenced_cache_writes.fetch_add(1, std::memory_order_relaxed);
    if (ok && recorded) {
      done.keys.push_back(keys[i]);
      done.versions.push_back(versions[i]);
    }
    key_committed(self, keys[i], versions[i], ok, recorded);
  }
  if (!done.keys.empty())
    forget_records(self, std::move(done));
  if (auto worker = redis_for(self); worker && !releases.empty())
    self->request(worker, by_its_deadline, atom::put::value, std::move(releases),
                  deadline_after(st.cfg.redis_timeout))
      .then([](const std::vector<cache_write_result>&) {},
            [](caf::error&) {});  // a release that fails lapses instead
}

// ack = "after-commit": the batch is answered; now its cache update, by a
// Redis worker. Until it lands the keys' marks keep every reader off the
// older copies.
void update_cache_later(self_ptr self, dirty_records cached, std::vector<cache_write> writes) {
  auto& st = self->state;
  auto worker = redis_for(self);
  auto mark = writes.empty() ? std::string() : writes.front().mark;
  if (!worker) {
    cache_updated(self, cached, {}, store_outcome::not_asked, false, mark);
    return;
  }
  auto first = cached.keys.empty() ? std::string() : cached.keys.front();
  auto send = [=]() mutable {
    auto& st = self->state;
    auto count = cached.keys.size();
    self->request(worker, by_its_deadline, atom::put::value, std::move(writes),
                  deadline_after(st.cfg.redis_timeout))
      .then(
        [=](std::vector<cache_write_result>& rs) {
          rs.resize(std::min(rs.size(), count));
          cache_updated(self, cached, rs, store_outcome::answered, false, mark);
        },
        [=](caf::error& err) {
          cache_updated(self, cached, {},
                        err == ec::redis_error ? store_outcome::answered : store_outcome::no_answer,
                        false, mark);
        });
  };
  through_gate(self, st.cfg.hooks.before_cache_write, first, std::move(send));
}

// The database committed and the worker updated the cache (newest version
// per key): tell the keys' owners, then answer. With ack = "after-commit"
// the other way round.
void after_commit(self_ptr self, std::shared_ptr<batch> b, store_outcome outcome) {
  auto& st = self->state;
  std::optional<clock_type::time_point> recorded_at;
  if (outcome.recorded) {
    recorded_at = clock_type::now();
    st.cfg.metrics->writes_recorded.fetch_add(b->writes.size(), std::memory_order_relaxed);
  }
  if (!outcome.deferred.empty()) {
    auto cached = std::move(outcome.cached);
    auto writes = std::move(outcome.deferred);
    finish_batch(self, b, std::move(outcome.results), recorded_at);
    update_cache_later(self, std::move(cached), std::move(writes));
    return;
  }
  cache_updated(self, outcome.cached, outcome.cache, outcome.cache_redis, outcome.recorded,
                outcome.mark);
  finish_batch(self, b, std::move(outcome.results), recorded_at);
}

void batch_failed(self_ptr self, std::shared_ptr<batch> b, const caf::error& err) {
  auto& st = self->state;
  caf::error answer = err;
  if (outcome_may_be_committed(err)) {
    // No lies: the client learns the outcome is unknown, and the keys are
    // invalidated (at a fresh version) so no reader trusts an older copy.
    for (auto& key : b->plan.keys)
      key_committed(self, key, 0, false);
    if (err != ec::outcome_unknown)
      answer = make_error(ec::outcome_unknown,
                          "the transaction or its cache update did not finish in time");
  }
  fail_all(self, b->writes, answer);
  if (!b->released)
    st.writes.done();
  flush(self);
}

void arm_batch_timer(self_ptr self, clock_type::time_point at) {
  self->delayed_send(self, at - clock_type::now(), atom::deadline::value);
}

void flush(self_ptr self) {
  auto& st = self->state;
  auto queued_before = st.writes.waiting();
  auto next = st.writes.take(clock_type::now());
  st.cfg.metrics->queued_writes.fetch_sub(queued_before - st.writes.waiting(),
                                          std::memory_order_relaxed);
  // Writes whose client has already been answered (deadline passed while
  // queued) never run, so "outcome unknown" stays true.
  fail_all(self, next.expired,
           make_error(ec::timeout, "waited past its deadline in the queue; nothing was written"));
  if (next.batch.empty())
    return;
  auto b = std::make_shared<batch>();
  b->writes = std::move(next.batch);
  b->plan = plan_transaction(b->writes, *st.cfg.spaces);
  // on_cache_failure = "fail": while Redis is down, refuse rather than let
  // the cache lag behind the database (nothing is written).
  if (st.cfg.refuse_writes_without_cache &&
      (st.redis_workers.empty() ||
       st.cfg.health->redis.current(clock_type::now()) == circuit_breaker::state::open)) {
    batch_failed(self, b, make_error(ec::redis_unavailable, "on_cache_failure = fail: nothing was written"));
    return;
  }
  auto worker = postgres_for(self);
  if (!worker) {
    batch_failed(self, b, unavailable(self, backend::postgres));
    return;
  }
  // The transaction puts tombstones in before it commits (or records the
  // keys, when Redis is unreachable): messages/store_protocol.hpp.
  const auto& plan = b->plan;
  invalidation inv;
  inv.keys = plan.keys;
  inv.redis_keys = st.cfg.redis_keys;
  inv.tombstone_ttl_ms = st.cfg.tombstone_ttl.count();
  inv.required = st.cfg.refuse_writes_without_cache;
  // Only the key's newest write decides its cache copy's TTL.
  inv.cache_ttl_ms.reserve(plan.ops.size());
  for (auto& op : plan.ops)
    inv.cache_ttl_ms.push_back(st.cache_ttl_of(op.kind, op.expiry, op.expiry_ms, op.ns));
  inv.min_cache_ttl_ms = st.clamp_ttl(1);
  inv.before_cache_write = st.cfg.hooks.before_cache_write;
  inv.beside_commit = st.cfg.hooks.cache_update_beside_commit;
  inv.defer_cache_update = std::all_of(plan.ops.begin(), plan.ops.end(), [&](const store_op& op) {
    return st.cfg.spaces->at(op.ns).ack_after_commit;
  });
  // The transaction, then the cache update after COMMIT, are watched by one
  // timer rather than a CAF request timeout per transaction: each of those
  // sets and cancels a timer, two wake-ups of CAF's clock thread per batch.
  auto give_up_at =
    clock_type::now() + st.cfg.postgres_timeout + st.cfg.redis_timeout + worker_margin;
  auto [number, arm] = st.writes.watch(give_up_at);
  // Writes coming in meanwhile need not wait for the cache update: the
  // worker says when it has committed, and the next transaction goes then.
  st.release_batch = nullptr;
  if (st.cfg.hooks.release_at_commit && st.writes.overlapping() && !inv.defer_cache_update) {
    inv.commit_listener = caf::actor_cast<caf::actor>(self);
    inv.batch = number;
    st.release_batch = [b] { b->released = true; };
  }
  // Whether to try Redis before COMMIT: not while its circuit is open. (Not
  // allow(): that would take the half-open probe, and this answer reaches
  // the breaker only when the transaction gets as far as the tombstones.)
  bool use_cache = !st.redis_workers.empty() &&
                   st.cfg.health->redis.current(clock_type::now()) != circuit_breaker::state::open;
  st.give_up_batch = [=] {
    auto err = make_error(caf::sec::request_timeout);
    observed(self, backend::postgres, &err);
    batch_failed(self, b, err);
  };
  if (arm)
    arm_batch_timer(self, give_up_at);
  self->request(worker, caf::infinite, atom::put::value, plan.ops,
                deadline_after(st.cfg.postgres_timeout), use_cache, std::move(inv))
    .then(
      [=, number = number](store_outcome& outcome) {
        if (!b->released) {
          if (!self->state.writes.answered(number))
            return;  // given up on already
          self->state.give_up_batch = nullptr;
        }
        observed(self, backend::postgres);
        observed_redis(self, outcome.redis, "no answer to the tombstones before COMMIT");
        self->state.cfg.metrics->db_transactions.fetch_add(1, std::memory_order_relaxed);
        after_commit(self, b, std::move(outcome));
      },
      [=, number = number](caf::error& err) {
        if (!b->released) {
          if (!self->state.writes.answered(number))
            return;
          self->state.give_up_batch = nullptr;
        }
        observed(self, backend::postgres, &err);
        batch_failed(self, b, err);
      });
}

// The worker committed transaction `number`; its cache update and answer
// follow. Past COMMIT the batch's keys are unlocked and its versions drawn,
// so the next batch may go: its marks and fenced cache writes keep every
// promise whichever cache update lands first, as with two nodes writing.
// The timer no longer watches it: the worker's cache update runs within its
// Redis timeout and cannot throw (update_cache), and a worker that dies
// first bounces the request with an error.
void on_batch_committed(self_ptr self, uint64_t number) {
  auto& st = self->state;
  if (!st.release_batch || !st.writes.committed(number))
    return;  // given up on, or answered, already
  auto release = std::move(st.release_batch);
  st.release_batch = nullptr;
  st.give_up_batch = nullptr;
  release();
  flush(self);
}

void on_batch_timer(self_ptr self) {
  auto& st = self->state;
  clock_type::time_point rearm_at;
  switch (st.writes.fired(clock_type::now(), rearm_at)) {
    case group_commit<caf::response_promise>::timer::idle:
      return;
    case group_commit<caf::response_promise>::timer::rearm:
      arm_batch_timer(self, rearm_at);  // a later transaction than the one it was set for
      return;
    case group_commit<caf::response_promise>::timer::give_up: {
      auto give_up = std::move(st.give_up_batch);
      st.give_up_batch = nullptr;
      if (give_up)
        give_up();
      return;
    }
  }
}

// ---- write-behind ---------------------------------------------------------

using queued_command = enqueue_line<caf::response_promise>::command;

// A command's answer: one number per key, as for write-through.
std::vector<write_answer> queued_numbers(const std::vector<queued_write>& ops,
                                         const std::vector<queued_result>& rs, std::size_t first) {
  std::vector<write_answer> out;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    write_answer a;
    a.number = ops[i].kind == op_kind::set ? rs[first + i].version : rs[first + i].count;
    out.push_back(std::move(a));
  }
  return out;
}

// ---- write-behind commands the shard decides ------------------------------
//
// SET NX, GETSET, APPEND, EXPIRE... of write-behind keys. The shard reads
// their newest state (read_newest), decides as the PostgreSQL worker does for
// write-through keys (core/string_ops.hpp), and queues the outcome as plain
// SETs and DELs, which the enqueue script writes only if the entries it
// decided from are unchanged; else it reads and decides again. Such a
// command goes alone and holds the line meanwhile, so nothing overtakes it.

bool decided_here(const queued_write& q) { return q.decided; }

struct deciding {
  queued_command cmd;
  newest read;  // per op: its key's entry, and its row where the entry holds no state
};

void read_to_decide(self_ptr self, std::shared_ptr<deciding> d);
void flush_queue(self_ptr self);

void end_decided(self_ptr self, const std::shared_ptr<deciding>& d,
                 caf::expected<std::vector<write_answer>> answer) {
  auto& st = self->state;
  auto& m = *st.cfg.metrics;
  m.queued_writes.fetch_sub(1, std::memory_order_relaxed);
  m.write_latency.record(
    std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - d->cmd.received));
  if (answer) {
    m.writes.fetch_add(1, std::memory_order_relaxed);
    d->cmd.ticket.deliver(std::move(*answer));
  } else {
    m.write_errors.fetch_add(1, std::memory_order_relaxed);
    d->cmd.ticket.deliver(answer.error());
  }
  st.queue.done();
  flush_queue(self);
}

void decide_and_queue(self_ptr self, std::shared_ptr<deciding> d) {
  auto& st = self->state;
  const auto& ops = d->cmd.ops;
  bool transaction = d->cmd.transaction;
  auto now_ms = unix_now_ms();
  // Each key as read (the first of its ops read it), then as the ops so
  // far leave it: an EXEC's later commands see its earlier ones.
  std::map<std::string, current_row> view;
  std::map<std::string, std::size_t> first_op;
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (first_op.emplace(ops[i].key, i).second)
      view.emplace(ops[i].key, state_of(d->read.entries[i], d->read.rows[i], now_ms));
  std::vector<decision> decisions(ops.size());
  std::vector<std::string> errors(ops.size());
  // EXEC: a watched key that changed means nothing runs (and EXEC is nil).
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (ops[i].kind == op_kind::watch && view[ops[i].key].version != ops[i].delta)
      decisions[i].applied = false;
  bool watch_failed = std::any_of(decisions.begin(), decisions.end(),
                                  [](const decision& x) { return !x.applied; });
  std::vector<queued_write> out;
  std::vector<std::size_t> out_of;  // per queued op: the command's op it writes
  for (std::size_t from = 0; from < ops.size() && !watch_failed;) {
    auto to = from + 1;  // the part's ops: [from, to)
    while (to < ops.size() && ops[to].part == ops[from].part)
      ++to;
    auto part_view = view;
    std::vector<queued_write> part_out;
    std::vector<std::size_t> part_of;
    std::string error;
    // MSETNX: every key absent, or nothing is written (and it answers 0).
    bool together_refused = false;
    for (auto i = from; i < to; ++i)
      if ((ops[i].flags & op_flag::together) && part_view[ops[i].key].exists)
        together_refused = true;
    for (auto i = from; i < to && error.empty(); ++i) {
      const auto& q = ops[i];
      auto& dec = decisions[i];
      if (q.kind == op_kind::watch)
        continue;
      auto& row = part_view[q.key];
      if (q.kind == op_kind::read) {  // EXEC's GET and its relatives
        dec.found = row.exists;
        dec.bulk = row.value;
        dec.expires_ms = row.exists ? row.expires_ms : -1;  // TTL and its relatives
        continue;
      }
      if (together_refused) {
        dec.applied = false;
        continue;
      }
      const auto& ns = st.cfg.spaces->at(st.cfg.spaces->resolve(q.key).index);
      store_op op;
      op.kind = q.kind;
      op.value = q.value;
      op.delta = q.delta;
      op.flags = q.flags & ~op_flag::together;
      op.expiry = q.expiry;
      op.expiry_ms = q.expiry_ms;
      // The reaper's DEL of a row it found expired, which the row read no
      // longer returns (it reads live rows only) and no newer write renewed.
      auto first = first_op[q.key];
      const auto& e = d->read.entries[first];
      if ((q.flags & op_flag::expired) && !holds_state(e) && !row.exists && row.version == 0)
        row.expired = true;
      int64_t cache_ttl = -1;
      dec = decide_in(op, row, st.cfg.max_value_bytes, ns.expiry != expiry_mode::value, cache_ttl);
      if (dec.error.empty() && dec.action == decision::write)
        dec.error = unstorable_result(ns.type, q.kind, dec.value);
      if (!dec.error.empty()) {
        error = dec.error;
        break;
      }
      if (dec.action == decision::keep)
        continue;
      auto w = q;
      w.kind = dec.action == decision::write ? op_kind::set : op_kind::del;
      w.value = dec.action == decision::write ? dec.value : std::string();
      w.flags = 0;
      if (cache_ttl >= 0)  // EXPIRE: the cache copy's TTL (0: gone at once)
        w.ttl_ms = st.clamp_ttl(std::max<int64_t>(cache_ttl, 1));
      w.expires_ms = dec.action == decision::write ? dec.expires_ms : -1;
      // Written only if the key's entry is still the one first read.
      w.expect = holds_state(e) ? e.version : 0;
      w.loaded = row.exists ? queued_write::loaded_found : queued_write::loaded_absent;
      w.loaded_value = row.value;
      w.loaded_version = holds_state(e) ? 0 : d->read.rows[first].version;
      w.group = 0;
      row.exists = dec.action == decision::write;
      row.expired = false;
      row.value = w.value;
      row.expires_ms = w.expires_ms;
      part_out.push_back(std::move(w));
      part_of.push_back(i);
    }
    if (!error.empty()) {
      if (!transaction) {  // nothing changes: the error is the reply
        end_decided(self, d, make_error(ec::client_error, error));
        return;
      }
      for (auto i = from; i < to; ++i)  // EXEC: this command fails alone
        errors[i] = error;
    } else {
      view = std::move(part_view);
      for (std::size_t j = 0; j < part_out.size(); ++j) {
        out.push_back(std::move(part_out[j]));
        out_of.push_back(part_of[j]);
      }
    }
    from = to;
  }
  auto answers = [d, decisions, errors, out_of, now_ms](const std::vector<queued_result>& rs) {
    const auto& ops = d->cmd.ops;
    std::vector<write_answer> a(ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const auto& dec = decisions[i];
      a[i].number = dec.number;
      a[i].applied = dec.applied;
      a[i].found = dec.found;
      a[i].bulk = dec.bulk;
      a[i].error = errors[i];
      a[i].now_ms = now_ms;
      if (ops[i].kind == op_kind::read)
        a[i].expires_ms = dec.expires_ms;
    }
    for (std::size_t j = 0; j < rs.size(); ++j) {
      a[out_of[j]].version = rs[j].version;
      if (ops[out_of[j]].kind == op_kind::set)
        a[out_of[j]].number = rs[j].version;
    }
    return a;
  };
  if (out.empty()) {  // nothing to change: the answer is what was read
    end_decided(self, d, answers({}));
    return;
  }
  auto worker = redis_for(self);
  if (!worker) {
    end_decided(self, d, unavailable(self, backend::redis));
    return;
  }
  std::vector<std::string> keys;
  for (auto& w : out)
    keys.push_back(w.key);
  self->request(worker, st.cfg.redis_timeout + worker_margin, atom::enqueue::value,
                st.cfg.redis_keys, std::move(out), deadline_after(st.cfg.redis_timeout))
    .then(
      [=](const std::vector<queued_result>& rs) {
        observed(self, backend::redis);
        if (rs.size() != keys.size()) {
          end_decided(self, d, make_error(ec::redis_error, "unexpected reply from the enqueue script"));
          return;
        }
        switch (rs[0].status) {
          case queued_status::done:
            for (std::size_t j = 0; j < rs.size(); ++j)
              key_committed(self, keys[j], rs[j].version, true);
            end_decided(self, d, answers(rs));
            return;
          case queued_status::changed:  // another write came first: decide again
            read_to_decide(self, d);
            return;
          case queued_status::busy:
            end_decided(self, d, make_error(ec::busy, "write-behind queue full"));
            return;
          case queued_status::refused:
            end_decided(self, d, make_error(ec::client_error, rs[0].error));
            return;
          case queued_status::unknown:
            end_decided(self, d, make_error(ec::outcome_unknown, rs[0].error));
            return;
          case queued_status::unavailable:
            end_decided(self, d, make_error(ec::redis_unavailable, rs[0].error));
            return;
          default:
            end_decided(self, d, make_error(ec::redis_error, "the enqueue script did not run a decided command"));
            return;
        }
      },
      [=](caf::error& err) {
        observed(self, backend::redis, &err);
        if (err == caf::sec::request_timeout || err == caf::sec::request_receiver_down)
          err = make_error(ec::outcome_unknown, "no answer from redis in time");
        end_decided(self, d, err);
      });
}

// Reads the newest state of the command's keys, then decides.
void read_to_decide(self_ptr self, std::shared_ptr<deciding> d) {
  if (d->cmd.deadline < clock_type::now()) {
    end_decided(self, d, make_error(ec::timeout, "could not decide before its deadline "
                                                 "(other writes to its keys kept coming first); "
                                                 "nothing was written"));
    return;
  }
  std::vector<std::string> keys, redis_keys;
  for (auto& op : d->cmd.ops) {
    keys.push_back(op.key);
    redis_keys.push_back(op.redis_key);
  }
  read_newest(self, std::move(keys), std::move(redis_keys), [=](newest_or_error got) {
    if (!got) {
      end_decided(self, d, got.error());
      return;
    }
    d->read = std::move(*got);
    decide_and_queue(self, d);
  });
}

// Reads the rows the script asked for, then sends the commands again, the
// one that asked first.
void load_then_resume(self_ptr self) {
  auto& st = self->state;
  auto& head = st.queue.front();
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < head.ops.size(); ++i)
    if (head.ops[i].loaded == queued_write::not_loaded && head.ops[i].kind != op_kind::set)
      todo.push_back(i);
  auto fail_head = [=](const caf::error& err) {
    auto& st = self->state;
    std::vector<queued_command> failed;
    failed.push_back(st.queue.pop_front());
    st.cfg.metrics->queued_writes.fetch_sub(1, std::memory_order_relaxed);
    fail_all(self, failed, err);
    st.queue.done();
    flush_queue(self);
  };
  if (todo.empty()) {  // cannot happen: the script asks only for DEL and INCR
    fail_head(make_error(ec::redis_error, "the enqueue script asked for a load it cannot use"));
    return;
  }
  std::vector<std::string> keys;
  for (auto i : todo)
    keys.push_back(head.ops[i].key);
  read_rows(self, keys, [=](rows_or_error rows) {
    if (!rows) {
      fail_head(rows.error());
      return;
    }
    // The head is still the command that asked: nothing runs while a load
    // is on its way.
    auto& ops = self->state.queue.front().ops;
    for (std::size_t j = 0; j < todo.size(); ++j) {
      auto& op = ops[todo[j]];
      auto& row = (*rows)[j];
      op.loaded = row.found ? queued_write::loaded_found : queued_write::loaded_absent;
      op.loaded_value = std::move(row.value);
      op.loaded_version = row.version;
    }
    self->state.queue.done();
    flush_queue(self);
  });
}

void queue_answered(self_ptr self, std::shared_ptr<std::vector<queued_command>> cmds,
                    const std::vector<queued_result>& rs) {
  auto& st = self->state;
  auto& m = *st.cfg.metrics;
  auto now = clock_type::now();
  // On one Redis the script stops at the first command that needs rows
  // and runs none after it. On a Redis Cluster each slot's call stops on
  // its own, so a later command can be done while an earlier one waits:
  // every command that ran is answered, and only those that did not go
  // back, in their order (commands of one key share a slot, so a key's
  // order holds).
  std::vector<queued_command> again;
  bool load = false;
  std::size_t k = 0;
  for (auto& c : *cmds) {
    auto status = rs[k].status;
    for (std::size_t i = 0; i < c.ops.size(); ++i)
      if (rs[k + i].status == queued_status::needs_load)
        status = queued_status::needs_load;
    if (status == queued_status::needs_load || status == queued_status::not_run) {
      if (again.empty())
        load = status == queued_status::needs_load;
      k += c.ops.size();
      again.push_back(std::move(c));
      continue;
    }
    m.queued_writes.fetch_sub(1, std::memory_order_relaxed);
    m.write_latency.record(std::chrono::duration_cast<std::chrono::microseconds>(now - c.received));
    if (status == queued_status::done) {
      // A read that started before must not fill.
      for (std::size_t i = 0; i < c.ops.size(); ++i)
        key_committed(self, c.ops[i].key, rs[k + i].version, true);
      m.writes.fetch_add(1, std::memory_order_relaxed);
      c.ticket.deliver(queued_numbers(c.ops, rs, k));
    } else {
      m.write_errors.fetch_add(1, std::memory_order_relaxed);
      if (status == queued_status::busy)
        c.ticket.deliver(make_error(ec::busy, "write-behind queue full"));
      else if (status == queued_status::unknown)
        c.ticket.deliver(make_error(ec::outcome_unknown, rs[k].error));
      else if (status == queued_status::unavailable)
        c.ticket.deliver(make_error(ec::redis_unavailable, rs[k].error));
      else
        c.ticket.deliver(make_error(ec::client_error, rs[k].error));
    }
    k += c.ops.size();
  }
  // The first to go back may need rows loaded before it is sent again.
  st.queue.put_back(again, 0);
  if (load) {
    load_then_resume(self);
    return;
  }
  st.queue.done();
  flush_queue(self);
}

void flush_queue_once(self_ptr self);

// Sends the next call of the write-behind line. A command can end at once
// (no Redis worker: it fails) and call for the next one: the line then goes
// on here, in a loop, rather than one stack frame deeper per command.
void flush_queue(self_ptr self) {
  self->state.flushing_queue([=] { flush_queue_once(self); });
}

void flush_queue_once(self_ptr self) {
  auto& st = self->state;
  auto next = st.queue.take(clock_type::now());
  st.cfg.metrics->queued_writes.fetch_sub(next.expired.size(), std::memory_order_relaxed);
  fail_all(self, next.expired,
           make_error(ec::timeout, "waited past its deadline in the queue; nothing was written"));
  if (next.call.empty())
    return;
  // A command the shard decides goes alone, after those before it.
  auto& call = next.call;
  auto decided = std::find_if(call.begin(), call.end(), [](const queued_command& c) {
    return c.transaction || std::any_of(c.ops.begin(), c.ops.end(), decided_here);
  });
  if (decided == call.begin()) {
    auto d = std::make_shared<deciding>();
    d->cmd = std::move(call.front());
    st.queue.put_back(call, 1);
    read_to_decide(self, d);
    return;
  }
  if (decided != call.end()) {
    st.queue.put_back(call, static_cast<std::size_t>(decided - call.begin()));
    call.erase(decided, call.end());
  }
  auto cmds = std::make_shared<std::vector<queued_command>>(std::move(next.call));
  std::vector<queued_write> ops;
  uint32_t group = 0;
  for (auto& c : *cmds) {
    for (auto& op : c.ops) {
      ops.push_back(op);
      ops.back().group = group;
    }
    ++group;
  }
  auto failed = [=](const caf::error& err) {
    auto& st = self->state;
    st.cfg.metrics->queued_writes.fetch_sub(cmds->size(), std::memory_order_relaxed);
    fail_all(self, *cmds, err);
    st.queue.done();
    flush_queue(self);
  };
  auto worker = redis_for(self);
  if (!worker) {
    failed(unavailable(self, backend::redis));
    return;
  }
  self->request(worker, st.cfg.redis_timeout + worker_margin, atom::enqueue::value,
                st.cfg.redis_keys, std::move(ops), deadline_after(st.cfg.redis_timeout))
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
        failed(err);
      });
}

// ---- dirty keys -----------------------------------------------------------

void schedule_retry(self_ptr self) {
  auto& st = self->state;
  if (st.dirty.schedule())
    self->delayed_send(self, st.cfg.retry_backoff.delay(st.dirty.attempt(), st.rng),
                       atom::tick::value);
}

void write_tombstones(self_ptr self, int64_t fresh) {
  auto& st = self->state;
  auto marks = std::make_shared<std::vector<dirty_keys::tombstone>>(st.dirty.tombstones(fresh));
  std::vector<cache_write> writes;
  for (auto& t : *marks) {
    cache_write w;
    w.redis_key = st.redis_key(t.key);
    w.version = t.version;
    w.tombstone = true;
    w.ttl_ms = st.cfg.tombstone_ttl.count();
    writes.push_back(std::move(w));
  }
  // The marks of the failed cache updates go with the tombstones: at the
  // failed write's version (or a fresher one), the tombstone fences out
  // every older fill, as the marks did. (The results of these releases come
  // after the tombstones' and are not read.)
  auto released = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
  for (auto& t : *marks) {
    auto at = st.unreleased_marks.find(t.key);
    if (at == st.unreleased_marks.end())
      continue;
    for (auto& [id, version] : at->second) {
      released->emplace_back(t.key, id);
      writes.push_back(release_of(st.redis_key(t.key), id));
    }
  }
  auto failed = [=] {
    self->state.dirty.retry_failed();
    schedule_retry(self);
  };
  auto worker = redis_for(self);
  if (!worker || writes.empty()) {
    failed();
    return;
  }
  self->request(worker, by_its_deadline, atom::put::value, std::move(writes),
                deadline_after(st.cfg.redis_timeout))
    .then(
      [=](const std::vector<cache_write_result>& rs) {
        observed(self, backend::redis);
        auto& st = self->state;
        dirty_records done;
        for (std::size_t i = 0; i < marks->size() && i < rs.size(); ++i) {
          if (rs[i] == cache_write_result::failed)
            continue;
          auto& t = (*marks)[i];
          // The marks sent with it are gone (not any that came meanwhile).
          if (auto at = st.unreleased_marks.find(t.key); at != st.unreleased_marks.end()) {
            auto& left = at->second;
            for (auto& gone : *released)
              if (gone.first == t.key)
                left.erase(std::remove_if(left.begin(), left.end(),
                                          [&](const auto& m) { return m.first == gone.second; }),
                           left.end());
            if (left.empty())
              st.unreleased_marks.erase(at);
          }
          // Only if nothing re-dirtied the key while the tombstone was on its way.
          if (auto gone = st.dirty.landed(t); gone && gone->shared) {
            done.keys.push_back(t.key);
            done.versions.push_back(t.version);
          }
        }
        // The records may go now: the tombstones are in. (Lost deletes are
        // harmless: the next look marks the keys again.)
        if (!done.keys.empty())
          forget_records(self, std::move(done));
        st.dirty.retry_answered();
        if (st.dirty.empty())
          self->state.cfg.log->info("shard {}: dirty keys invalidated; the cache is trusted again",
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
  st.dirty.retry_started();
  if (st.dirty.empty())
    return;
  if (!st.dirty.needs_fresh_version()) {
    write_tombstones(self, 0);
    return;
  }
  auto worker = postgres_for(self);
  if (!worker) {
    st.dirty.retry_failed();
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
        self->state.dirty.retry_failed();
        schedule_retry(self);
      });
}

}  // namespace

shard_actor::behavior_type shard_coordinator(self_ptr self, shard_settings cfg) {
  close_mailbox_at_exit(self);
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.writes = group_commit<caf::response_promise>(st.cfg.max_queued_writes, st.cfg.max_batch_ops);
  st.queue = enqueue_line<caf::response_promise>(st.cfg.max_queued_writes, st.cfg.max_batch_ops);
  st.dirty.count_in(&st.cfg.health->marked);
  return {
    [=](atom::get, const std::string& key, bool cache_checked,
        int64_t seen) -> caf::result<lookup> {
      return handle_get(self, key, cache_checked, seen);
    },
    [=](atom::put, write_request& req) -> caf::result<std::vector<write_answer>> {
      auto& st = self->state;
      auto now = clock_type::now();
      const auto& first = req.writes.front().key;
      bool behind =
        st.cfg.spaces->at(st.cfg.spaces->resolve(first).index).mode == write_mode::write_behind;
      // A promise takes over the reply: made only once the write is taken.
      if (behind ? st.queue.full() : st.writes.full())
        return make_error(ec::busy, "write queue full; retry later");
      st.cfg.metrics->queued_writes.fetch_add(1, std::memory_order_relaxed);
      if (behind) {
        queued_command c{{}, self->make_response_promise(), now, now + st.cfg.request_timeout,
                         req.transaction};
        for (auto& w : req.writes)
          c.ops.push_back(st.make_queued(w));
        st.queue.admit(std::move(c));
        flush_queue(self);
      } else {
        st.writes.admit(std::move(req), self->make_response_promise(), now,
                        now + st.cfg.request_timeout);
        flush(self);
      }
      return caf::delegated<std::vector<write_answer>>{};
    },
    [=](atom::ttl, const std::string& key) -> caf::result<lookup> {
      return read_with_expiry(self, key);
    },
    [=](atom::scan, scan_request& req) -> caf::result<scan_page> {
      return via_postgres<scan_page, scan_page>(
        self, [](scan_page page) { return page; }, atom::scan::value, std::move(req));
    },
    [=](atom::committed, const std::string& key, int64_t version, bool cache_ok) {
      on_committed(self, key, version, cache_ok, false);
      if (!cache_ok)
        self->state.cfg.health->in_transit.fetch_sub(1);
    },
    [=](atom::tick) { retry_dirty(self); },
    [=](atom::deadline) { on_batch_timer(self); },
    [=](atom::committed_batch, uint64_t number) { on_batch_committed(self, number); },
    [=](atom::dirty, const dirty_records& recorded, int64_t lease_until, bool overflow) {
      auto& st = self->state;
      for (std::size_t i = 0; i < recorded.keys.size(); ++i)
        st.dirty.recorded(recorded.keys[i], recorded.versions[i]);
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
