// The connection broker: RESP in, commands to the shards, replies out in order.
#include "actors/connection.hpp"

#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <cstdio>
#include <set>
#include <type_traits>

#include <caf/behavior.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/broker_mailbox.hpp"
#include "core/deadline.hpp"
#include "core/info.hpp"
#include "core/command_table.hpp"
#include "core/read_route.hpp"
#include "actors/socket_send.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"
#include "messages/shard_protocol.hpp"

namespace wtcache {

using self_ptr = caf::io::stateful_broker<connection_state>*;

namespace {

constexpr const char* no_answer_in_time =
  "ERR outcome unknown: no answer within the request deadline";

std::size_t unanswered(const connection_state& st) {
  return st.order.in_flight() + st.waiting.size() + st.ready.size();
}

using steady = std::chrono::steady_clock;

// Reading stops while too many commands are unanswered or too many reply
// bytes wait for the client, and resumes well below both. CAF 0.17 applies
// a halt at the end of the multiplexer's round and ignores a trigger that
// comes before that, so a resume goes through a short timer and never
// follows a halt by less than a millisecond.
void halt_reading(self_ptr self) {
  auto& st = self->state;
  if (st.closed || st.reading_halted)
    return;
  st.reading_halted = true;
  st.last_halt = steady::now();
  self->halt(st.hdl);
}

// Halted, and now well below both limits.
bool may_read_again(const connection_state& st) {
  return !st.closed && st.reading_halted && !st.output_over_limit &&
         unanswered(st) <= st.fe->max_pipeline / 2;
}

void maybe_resume_reading(self_ptr self) {
  auto& st = self->state;
  if (st.resume_scheduled || !may_read_again(st))
    return;
  st.resume_scheduled = true;
  self->delayed_send(self, std::chrono::milliseconds(1), atom::resume::value);
}

void on_resume(self_ptr self) {
  auto& st = self->state;
  st.resume_scheduled = false;
  if (steady::now() - st.last_halt < std::chrono::milliseconds(1)) {
    maybe_resume_reading(self);  // too close to a halt: try again shortly
    return;
  }
  if (!may_read_again(st))
    return;  // a later answer or drain resumes
  st.reading_halted = false;
  self->trigger(st.hdl);
}

// Ends the connection now: nothing more is read, dispatched or written.
void close_now(self_ptr self) {
  auto& st = self->state;
  st.closed = true;
  st.close_at = st.next_to_send;
  st.waiting.clear();
  self->close(st.hdl);
  self->quit();
}

// Cuts off a client that stopped reading its replies. CAF's close() is
// graceful: it would keep the unsent replies until the client reads them.
// Resetting the socket (the default multiplexer's handle id is the socket)
// drops them: CAF's next write fails and it releases the buffers.
void cut_off(self_ptr self) {
  auto& st = self->state;
  st.fe->log->warn("connection: closing a client that does not read its replies "
               "({} bytes unsent, limit {})",
               st.unsent_bytes, st.fe->max_reply_buffer_bytes);
  auto fd = static_cast<int>(st.hdl.id());
  linger abort{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  ::shutdown(fd, SHUT_RDWR);
  close_now(self);
}

// While the output is over its limit: cut the client off once it has taken
// nothing for a second, else look again in a second.
void check_output(self_ptr self) {
  auto& st = self->state;
  if (st.closed || !st.output_over_limit)
    return;
  if (steady::now() - st.last_drained >= std::chrono::seconds(1)) {
    cut_off(self);
    return;
  }
  self->delayed_send(self, std::chrono::seconds(1), atom::tick::value);
}

void send_ready(self_ptr self) {
  auto& st = self->state;
  if (st.closed)
    return;
  std::string out;
  bool close = false;
  auto now = steady::now();
  while (!st.ready.empty() && st.ready.begin()->first == st.next_to_send) {
    auto node = st.ready.begin();
    // Commands are answered in order: the oldest one started is this one.
    if (!st.started.empty()) {
      auto [command, at] = st.started.front();
      st.started.pop_front();
      command->calls.fetch_add(1, std::memory_order_relaxed);
      if (!node->second.empty() && node->second[0] == '-')
        command->errors.fetch_add(1, std::memory_order_relaxed);
      command->latency.observe(now - at);
    }
    out += node->second;
    st.ready.erase(node);
    if (st.next_to_send++ == st.close_at) {
      close = true;
      break;
    }
  }
  if (!out.empty()) {
    if (send_now_or_buffer(self, st.hdl, st.unsent_bytes, out) > 0)
      st.last_drained = steady::now();
    if (st.unsent_bytes > st.fe->max_reply_buffer_bytes && !st.output_over_limit) {
      // Take no more commands until the client reads; cut it off if it does not.
      st.output_over_limit = true;
      halt_reading(self);
      check_output(self);
    }
  }
  if (close)
    close_now(self);
}

void complete(self_ptr self, uint64_t seq, std::string reply) {
  self->state.ready.emplace(seq, std::move(reply));
  send_ready(self);
}

std::string error_reply(const std::string& text) {
  std::string out;
  resp::error(out, text);
  return out;
}

std::string simple_reply(const char* text) {
  std::string out;
  resp::simple(out, text);
  return out;
}

void pump(self_ptr self);

void finished(self_ptr self, const command_plan& plan, bool barrier) {
  self->state.order.finish(plan, barrier);
  pump(self);
  maybe_resume_reading(self);
}

// ---- deadlines ------------------------------------------------------------

void arm_watchdog(self_ptr self) {
  auto& st = self->state;
  if (st.watchdog_armed || st.watches.empty())
    return;
  auto next = steady::time_point::max();
  for (auto& [seq, w] : st.watches)
    next = std::min(next, w.told ? w.give_up : w.deadline);
  st.watchdog_armed = true;
  auto wait = std::max(next - steady::now(), steady::duration::zero());
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::milliseconds>(wait) +
                             std::chrono::milliseconds(1),
                     atom::deadline::value);
}

// Command `seq` went to the shards (their requests carry no timeout).
void watch(self_ptr self, uint64_t seq, std::function<void()> on_deadline,
           std::function<void()> on_give_up) {
  auto& st = self->state;
  auto now = steady::now();
  st.watches.emplace(seq, connection_state::watch{now + st.fe->request_timeout,
                                                  now + st.fe->answer_timeout,
                                                  std::move(on_deadline), std::move(on_give_up)});
  arm_watchdog(self);
}

void unwatch(self_ptr self, uint64_t seq) { self->state.watches.erase(seq); }

void on_watchdog(self_ptr self) {
  auto& st = self->state;
  st.watchdog_armed = false;
  auto now = steady::now();
  std::vector<std::function<void()>> due;
  for (auto it = st.watches.begin(); it != st.watches.end();) {
    auto& w = it->second;
    if (w.told && w.give_up <= now) {
      due.push_back(std::move(w.on_give_up));
      it = st.watches.erase(it);
      continue;
    }
    if (!w.told && w.deadline <= now) {
      w.told = true;
      due.push_back(w.on_deadline);
    }
    ++it;
  }
  for (auto& f : due)
    f();
  arm_watchdog(self);
}

// The lookups of one read command (GET, MGET, EXISTS) and their answers.
struct read_gather {
  uint64_t seq;
  std::shared_ptr<command_plan> plan;
  std::vector<lookup> values;
  std::size_t next = 0;  // the next key to send
  std::size_t left;      // answers still missing
  std::string error;
  bool told = false;     // the client heard a timeout already
  bool settled = false;  // finished: later answers are ignored
};

// A command with many keys (MGET of a million) keeps at most this many
// lookups in flight, so it cannot flood the shards ahead of other clients.
constexpr std::size_t lookup_window = 256;

void bulk_or_nil(std::string& out, bool found, std::string_view value) {
  if (found)
    resp::bulk(out, value);
  else
    resp::nil(out);
}

// GETRANGE's bytes, as Redis picks them: negative offsets count from the
// end, and the range is clipped to the value.
std::string_view byte_range(const std::string& v, int64_t start, int64_t end) {
  auto len = static_cast<int64_t>(v.size());
  if (start < 0 && end < 0 && start > end)
    return {};
  if (start < 0)
    start += len;
  if (end < 0)
    end += len;
  start = std::max<int64_t>(start, 0);
  end = std::max<int64_t>(end, 0);
  if (end >= len)
    end = len - 1;
  if (start > end || len == 0)
    return {};
  return std::string_view(v).substr(static_cast<std::size_t>(start),
                                    static_cast<std::size_t>(end - start + 1));
}

// The reply of a read command from its keys' lookups.
void read_reply(std::string& out, const command_plan& plan, const std::vector<lookup>& values) {
  const auto& first = values[0];
  switch (plan.shape) {
    case reply_shape::bulk:
      bulk_or_nil(out, first.found, first.value);
      return;
    case reply_shape::bulk_array:
      resp::array_header(out, values.size());
      for (auto& v : values)
        bulk_or_nil(out, v.found, v.value);
      return;
    case reply_shape::type_name:
      resp::simple(out, first.found ? "string" : "none");
      return;
    case reply_shape::length:
      resp::integer(out, first.found ? static_cast<long long>(first.value.size()) : 0);
      return;
    case reply_shape::range:
      resp::bulk(out, first.found ? byte_range(first.value, plan.range_start, plan.range_end)
                                  : std::string_view());
      return;
    case reply_shape::ttl_seconds:
    case reply_shape::ttl_millis:
    case reply_shape::expire_seconds:
    case reply_shape::expire_millis: {
      if (!first.found || first.expires_ms < 0) {
        resp::integer(out, first.found ? -1 : -2);
        return;
      }
      bool absolute = plan.shape == reply_shape::expire_seconds ||
                      plan.shape == reply_shape::expire_millis;
      bool millis = plan.shape == reply_shape::ttl_millis ||
                    plan.shape == reply_shape::expire_millis;
      auto t = absolute ? first.expires_ms : std::max<int64_t>(first.expires_ms - first.now_ms, 0);
      resp::integer(out, millis ? t : (t + 500) / 1000);
      return;
    }
    default: {
      long long n = 0;
      for (auto& v : values)
        n += v.found ? 1 : 0;
      resp::integer(out, n);
    }
  }
}

// A WATCH whose versions could not be read: the next EXEC must fail (it
// answers nil), never run unchecked. No row is ever at version -1.
void poison_watches(self_ptr self, const command_plan& plan) {
  if (plan.shape == reply_shape::watched)
    for (auto& k : plan.keys)
      self->state.watched[k] = -1;
}

void reply_read(self_ptr self, read_gather& g) {
  if (g.settled)
    return;
  g.settled = true;
  unwatch(self, g.seq);
  if (g.told || !g.error.empty())
    poison_watches(self, *g.plan);
  if (g.told) {
    finished(self, *g.plan, false);
    return;
  }
  std::string out;
  const auto& plan = *g.plan;
  if (!g.error.empty()) {
    resp::error(out, g.error);
  } else if (plan.shape == reply_shape::watched) {
    // The first WATCH of a key decides the version EXEC checks.
    for (std::size_t i = 0; i < plan.keys.size(); ++i)
      self->state.watched.emplace(plan.keys[i], g.values[i].version);
    resp::simple(out, "OK");
  } else {
    read_reply(out, plan, g.values);
  }
  complete(self, g.seq, std::move(out));
  finished(self, plan, false);
}

// Where to read cache hits without the shard (the cache reader, else a Redis
// worker: two thread hand-offs fewer); none while anything makes the cache
// doubtful (core/read_route.hpp), and then the shard decides.
cache_read_actor straight_to_cache(self_ptr self) {
  auto& st = self->state;
  if (!st.fe->directory || !may_skip_shard(*st.fe->health, steady::now()))
    return {};
  return st.fe->directory->reads(st.next_redis++);
}

void send_lookups(self_ptr self, std::shared_ptr<read_gather> g);

// One key's answer is in: the command's reply once all are, else more keys.
void answered(self_ptr self, const std::shared_ptr<read_gather>& g) {
  if (--g->left == 0)
    reply_read(self, *g);
  else
    send_lookups(self, g);
}

// `cache_checked`: this connection read the key's cache entry and found no
// value, so the shard does not read it again; `seen`: the version of the
// tombstone it found there (0: none).
void ask_shard(self_ptr self, std::shared_ptr<read_gather> g, std::size_t i, bool cache_checked,
               int64_t seen = 0) {
  auto& st = self->state;
  const auto& key = g->plan->keys[i];
  auto on_value = [=](lookup& v) {
    g->values[i] = std::move(v);
    answered(self, g);
  };
  auto on_error = [=](caf::error& err) {
    if (g->error.empty())
      g->error = client_error_text(err);
    answered(self, g);
  };
  const auto& shard = st.fe->shards[shard_of(key, st.fe->shards.size())];
  if (g->plan->with_expiry)
    self->request(shard, caf::infinite, atom::ttl::value, key).then(on_value, on_error);
  else
    self->request(shard, caf::infinite, atom::get::value, key, cache_checked, seen)
      .then(on_value, on_error);
}

void send_lookups(self_ptr self, std::shared_ptr<read_gather> g) {
  auto& st = self->state;
  const auto& keys = g->plan->keys;
  if (g->told && !g->settled && g->next < keys.size()) {
    // The client has its timeout: the keys not sent yet count as answered,
    // so the command finishes (and frees its keys) once those out are back.
    g->left -= keys.size() - g->next;
    g->next = keys.size();
    if (g->left == 0) {
      reply_read(self, *g);
      return;
    }
  }
  std::vector<std::size_t> batch;  // the keys this round sends
  while (!g->settled && g->next < keys.size() &&
         g->next - (keys.size() - g->left) < lookup_window)
    batch.push_back(g->next++);
  if (batch.empty())
    return;
  auto redis = g->plan->with_expiry ? cache_read_actor{} : straight_to_cache(self);
  if (!redis) {
    for (auto i : batch)
      ask_shard(self, g, i, false);
    return;
  }
  // The round's keys as one pipelined read; a miss or a tombstone is the
  // shard's to read through, and so is every key if Redis fails.
  std::vector<std::string> redis_keys;
  for (auto i : batch)
    redis_keys.push_back(st.fe->redis_keys.entry(keys[i]));
  auto deadline = (steady::now() + st.fe->redis_timeout).time_since_epoch().count();
  self->request(redis, caf::infinite, atom::get::value, std::move(redis_keys), deadline)
    .then(
      [=](std::vector<cache_entry>& es) {
        if (g->settled)
          return;  // given up on: its keys are released already
        std::vector<std::pair<std::size_t, int64_t>> misses;  // with the tombstone seen
        auto now_ms = unix_now_ms();
        for (std::size_t j = 0; j < batch.size(); ++j) {
          if (j >= es.size()) {
            ask_shard(self, g, batch[j], false);  // not answered: not checked
            continue;
          }
          if (!es[j].present || es[j].tombstone) {
            misses.emplace_back(batch[j], es[j].tombstone ? es[j].version : 0);
            continue;
          }
          // A value, or a write-behind DEL (or expired value) not yet in
          // PostgreSQL.
          self->state.fe->metrics->hit(self->state.fe->spaces->resolve(g->plan->keys[batch[j]]).index);
          g->values[batch[j]] =
            absent_at(es[j], now_ms) ? lookup{false, {}} : lookup{true, std::move(es[j].data)};
        }
        for (auto [i, seen] : misses)
          ask_shard(self, g, i, true, seen);
        // All the hits at once, so that the next round is one read again.
        g->left -= batch.size() - misses.size();
        if (g->left == 0)
          reply_read(self, *g);
        else
          send_lookups(self, g);
      },
      [=](caf::error&) {
        for (auto i : batch)
          ask_shard(self, g, i, false);
      });
}

void dispatch_read(self_ptr self, uint64_t seq, std::shared_ptr<command_plan> plan) {
  auto g = std::make_shared<read_gather>();
  g->seq = seq;
  g->values.resize(plan->keys.size());
  g->left = plan->keys.size();
  g->plan = std::move(plan);
  watch(
    self, seq,
    [self, g] {
      g->told = true;
      complete(self, g->seq, error_reply(client_error_text(make_error(caf::sec::request_timeout))));
    },
    [self, g] {
      g->settled = true;
      poison_watches(self, *g->plan);
      finished(self, *g->plan, false);
    });
  send_lookups(self, g);
}

// The reply of a write command from its keys' answers.
void write_reply(std::string& out, reply_shape shape, const std::vector<write_answer>& answers) {
  static const write_answer none;
  const auto& first = answers.empty() ? none : answers.front();
  switch (shape) {
    case reply_shape::first_number:
      resp::integer(out, first.number);
      return;
    case reply_shape::sum_numbers: {
      long long n = 0;
      for (auto& a : answers)
        n += a.number;
      resp::integer(out, n);
      return;
    }
    case reply_shape::ok_or_nil:
      if (first.applied)
        resp::simple(out, "OK");
      else
        resp::nil(out);
      return;
    case reply_shape::first_bulk:
      bulk_or_nil(out, first.found, first.bulk);
      return;
    case reply_shape::applied:
      resp::integer(out, first.applied ? 1 : 0);
      return;
    default:
      resp::simple(out, "OK");
  }
}

// EXEC's reply: nil when a watched key changed (part 0 holds the watches),
// else each queued command's reply from its part's answers.
std::string control_reply(self_ptr self, const command_plan& q);

void exec_reply(self_ptr self, std::string& out, const command_plan& exec,
                const std::vector<write_answer>& answers) {
  const auto& writes = exec.request.writes;
  for (std::size_t i = 0; i < writes.size() && i < answers.size(); ++i) {
    if (writes[i].kind != op_kind::watch)
      continue;
    if (!answers[i].error.empty()) {  // the watches could not be checked: nothing ran
      resp::error(out, answers[i].error);
      return;
    }
    if (!answers[i].applied) {
      out += "*-1\r\n";
      return;
    }
  }
  resp::array_header(out, exec.queued.size());
  std::size_t k = 0;
  while (k < writes.size() && writes[k].part == 0)
    ++k;
  for (std::size_t part = 1; part <= exec.queued.size(); ++part) {
    const auto& q = exec.queued[part - 1];
    std::vector<write_answer> mine;
    for (; k < writes.size() && writes[k].part == part; ++k)
      if (k < answers.size())
        mine.push_back(answers[k]);
    if (q.kind == plan_kind::reply) {
      out += control_reply(self, q);
      continue;
    }
    auto failed = std::find_if(mine.begin(), mine.end(), [](auto& a) { return !a.error.empty(); });
    if (failed != mine.end()) {
      resp::error(out, failed->error);
    } else if (q.kind == plan_kind::read) {
      std::vector<lookup> values;
      for (auto& a : mine)
        values.push_back(lookup{a.found, a.bulk, a.expires_ms, a.now_ms, a.version});
      if (values.empty())
        values.emplace_back();
      read_reply(out, q, values);
    } else {
      write_reply(out, q.shape, mine);
    }
  }
}

void on_write_deadline(self_ptr self, uint64_t seq) {
  auto& st = self->state;
  if (!st.writes_in_flight.count(seq) || st.told_unknown.count(seq))
    return;
  st.told_unknown.insert(seq);
  complete(self, seq, error_reply(no_answer_in_time));
}

void dispatch_write(self_ptr self, uint64_t seq, std::shared_ptr<command_plan> plan,
                    bool barrier) {
  auto& st = self->state;
  auto lead = shard_of(plan->request.writes.front().key, st.fe->shards.size());
  st.writes_in_flight.insert(seq);
  // The client hears "outcome unknown" at its deadline; the real answer
  // still releases the keys when it comes (or, failing that, answer_timeout).
  auto answer = [=](std::string out) {
    auto& st = self->state;
    if (!st.writes_in_flight.erase(seq))
      return;  // given up on already
    unwatch(self, seq);
    if (!st.told_unknown.erase(seq))
      complete(self, seq, std::move(out));
    finished(self, *plan, barrier);
  };
  watch(self, seq, [self, seq] { on_write_deadline(self, seq); },
        [answer] { answer(error_reply(no_answer_in_time)); });
  self->request(st.fe->shards[lead], caf::infinite, atom::put::value, plan->request)
    .then(
      [=](const std::vector<write_answer>& answers) {
        std::string out;
        if (plan->shape == reply_shape::exec)
          exec_reply(self, out, *plan, answers);
        else
          write_reply(out, plan->shape, answers);
        answer(std::move(out));
      },
      [=](caf::error& err) {
        // A write that got no answer at all may still have committed: say so.
        answer(error_reply(err == caf::sec::request_timeout ? no_answer_in_time
                                                            : client_error_text(err)));
      });
}

// ---- the keyspace ----------------------------------------------------------

// SCAN, KEYS, DBSIZE: one look at the rows. FLUSHDB: the default table's
// keys a page at a time, each page deleted through the write path (so
// every key gets its tombstone), until none is left. A barrier: nothing of
// this connection runs beside it.
void dispatch_keyspace(self_ptr self, uint64_t seq, std::shared_ptr<command_plan> plan) {
  auto settled = std::make_shared<bool>(false);
  auto answer = [=](std::string out) {
    if (*settled)
      return;
    *settled = true;
    unwatch(self, seq);
    complete(self, seq, std::move(out));
    finished(self, *plan, true);
  };
  auto fail = [=](const caf::error& err) { answer(error_reply(client_error_text(err))); };
  watch(self, seq, [answer] { answer(error_reply(no_answer_in_time)); }, [] {});
  auto& st = self->state;
  auto shard = st.fe->shards[st.next_redis++ % st.fe->shards.size()];
  if (plan->shape != reply_shape::flushed) {
    self->request(shard, caf::infinite, atom::scan::value, plan->scan)
      .then(
        [=](scan_page& page) {
          std::string out;
          if (plan->shape == reply_shape::key_count) {
            resp::integer(out, page.count);
          } else {
            if (plan->shape == reply_shape::scan_page) {
              resp::array_header(out, 2);
              resp::bulk(out, std::to_string(page.cursor));
            }
            resp::array_header(out, page.keys.size());
            for (auto& k : page.keys)
              resp::bulk(out, k);
          }
          answer(std::move(out));
        },
        fail);
    return;
  }
  // FLUSHDB: page, delete, page again. It has no deadline of its own
  // (each page's transaction has its shard's), and it holds its barrier
  // until it stops, so nothing of this connection overtakes a DEL.
  unwatch(self, seq);
  auto deleted = std::make_shared<int64_t>(0);
  // The loop lives as long as a request of it is pending (its handlers
  // hold it), and no longer: it does not hold itself.
  auto step = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> loop = step;
  auto stop = [=](std::string out) { answer(std::move(out)); };
  auto stopped_by = [=](const caf::error& err) {
    auto text = client_error_text(err);
    stop(error_reply(*deleted == 0 ? text
                                   : text + " (FLUSHDB stopped part way: " +
                                       std::to_string(*deleted) + " keys were deleted)"));
  };
  *step = [=] {
    auto again = loop.lock();
    if (!again)
      return;
    self->request(shard, caf::infinite, atom::scan::value, plan->scan)
      .then(
        [=](scan_page& page) {
          if (page.keys.empty()) {
            stop(simple_reply("OK"));
            return;
          }
          write_request dels;
          for (auto& k : page.keys) {
            key_write w;
            w.kind = op_kind::del;
            w.key = std::move(k);
            dels.writes.push_back(std::move(w));
          }
          auto n = static_cast<int64_t>(dels.writes.size());
          auto& st = self->state;
          auto lead = shard_of(dels.writes.front().key, st.fe->shards.size());
          self->request(st.fe->shards[lead], caf::infinite, atom::put::value, std::move(dels))
            .then(
              [=](const std::vector<write_answer>&) {
                *deleted += n;
                (*again)();
              },
              stopped_by);
        },
        stopped_by);
  };
  (*step)();
}

void dispatch_local(self_ptr self, uint64_t seq, std::shared_ptr<command_plan> plan);

void pump_once(self_ptr self);

void pump(self_ptr self) {
  self->state.pumping([=] { pump_once(self); });
}

void pump_once(self_ptr self) {
  auto& st = self->state;
  while (!st.closed && !st.waiting.empty()) {
    auto& front = st.waiting.front();
    bool barrier = front.plan.kind == plan_kind::keyspace || front.plan.kind == plan_kind::local ||
                   front.plan.request.transaction ||
                   (front.plan.kind == plan_kind::write &&
                    spans_shards(front.plan, st.fe->shards.size()));
    if (!st.order.ready(front.plan, barrier))
      return;
    auto plan = std::make_shared<command_plan>(std::move(front.plan));
    auto seq = front.seq;
    st.waiting.pop_front();
    st.order.start(*plan, barrier);
    if (plan->kind == plan_kind::read)
      dispatch_read(self, seq, plan);
    else if (plan->kind == plan_kind::keyspace)
      dispatch_keyspace(self, seq, plan);
    else if (plan->kind == plan_kind::local)
      dispatch_local(self, seq, plan);
    else
      dispatch_write(self, seq, plan, barrier);
  }
}

std::string transaction_step(self_ptr self, command_plan& plan);
void set_name(self_ptr self, const std::string& name);
std::string client_step(self_ptr self, const std::vector<std::string>& a);
std::string hello_step(self_ptr self, const std::vector<std::string>& a);
std::string auth_step(self_ptr self, const std::vector<std::string>& a);
void become_user(self_ptr self, const access_control::user* u);

// ---- MULTI ... EXEC ----------------------------------------------------------

// Leaves MULTI; the watches stay until the next command of the
// connection's own that clears them runs in its turn.
void end_transaction(connection_state& st) {
  st.in_multi = false;
  st.multi_failed = false;
  st.multi_queue.clear();
}

// Errors Redis finds while queueing (then EXEC refuses the whole
// transaction); any other error is the command's reply inside EXEC.
bool refused_when_queued(const std::string& reply) {
  return reply.rfind("-ERR unknown command", 0) == 0 ||
         reply.rfind("-ERR wrong number of arguments", 0) == 0;
}

// EXEC as one write request: the watches (part 0), then each queued
// command's ops (part i); replies need no ops. Built when EXEC's turn
// comes, so that every WATCH before it has its version. Returns the reply
// when there is nothing to send to a shard; else `exec` is the request.
std::string make_exec(self_ptr self, command_plan& exec) {
  auto& st = self->state;
  exec.kind = plan_kind::write;
  exec.shape = reply_shape::exec;
  exec.request.transaction = true;
  // A WATCH that could not read its versions: the transaction does not run.
  bool poisoned = std::any_of(st.watched.begin(), st.watched.end(),
                              [](auto& w) { return w.second < 0; });
  if (poisoned) {
    st.watched.clear();
    return "*-1\r\n";
  }
  for (auto& [key, version] : st.watched) {
    key_write w;
    w.kind = op_kind::watch;
    w.key = key;
    w.delta = version;
    exec.request.writes.push_back(std::move(w));
  }
  st.watched.clear();
  uint32_t part = 0;
  for (auto& q : exec.queued) {
    ++part;
    if (q.kind == plan_kind::write) {
      for (auto w : q.request.writes) {
        w.part = part;
        exec.request.writes.push_back(std::move(w));
      }
    } else if (q.kind == plan_kind::read) {
      for (auto& k : q.keys) {
        key_write w;
        w.kind = op_kind::read;
        w.key = k;
        w.part = part;
        exec.request.writes.push_back(std::move(w));
      }
    }
  }
  // Write-through keys are one PostgreSQL transaction; write-behind keys
  // one call of the enqueue script in Redis, acknowledged at another point:
  // the two cannot be one atomic EXEC.
  const write_mode* mode = nullptr;
  for (auto& w : exec.request.writes) {
    const auto& ns = st.fe->spaces->at(st.fe->spaces->resolve(w.key).index);
    if (mode && *mode != ns.mode)
      return error_reply("ERR EXEC: the transaction mixes write-through and write-behind keys, "
                         "which cannot be one atomic write; nothing was run");
    mode = &ns.mode;
  }
  if (exec.request.writes.empty()) {  // replies only
    std::string out;
    resp::array_header(out, exec.queued.size());
    for (auto& q : exec.queued)
      out += control_reply(self, q);
    return out;
  }
  return {};
}

// A command of the connection's own, when its turn comes (a barrier:
// everything before it has been answered).
void dispatch_local(self_ptr self, uint64_t seq, std::shared_ptr<command_plan> plan) {
  auto& st = self->state;
  if (plan->control == "EXEC") {
    auto exec = std::make_shared<command_plan>();
    exec->queued = std::move(plan->queued);
    auto reply = make_exec(self, *exec);
    if (reply.empty()) {
      // It takes the barrier over (command_order counts commands, not plans).
      dispatch_write(self, seq, exec, true);
      return;
    }
    complete(self, seq, std::move(reply));
  } else {  // UNWATCH, and what ends a transaction: DISCARD, RESET, EXECABORT
    st.watched.clear();
    complete(self, seq, std::move(plan->reply));
  }
  finished(self, *plan, true);
}

// Turns `plan` into a command of the connection's own that clears the
// watches (in order) and answers `reply`.
void clear_watches_then(command_plan& plan, std::string reply) {
  plan.kind = plan_kind::local;
  plan.control = "UNWATCH";
  plan.reply = std::move(reply);
}

// Beyond this many commands MULTI refuses more (and EXEC then runs none).
constexpr std::size_t max_queued_in_multi = 10000;

std::string queue_in_multi(connection_state& st, command_plan plan) {
  if (st.multi_queue.size() >= max_queued_in_multi) {
    st.multi_failed = true;
    return error_reply("ERR MULTI holds at most " + std::to_string(max_queued_in_multi) +
                       " commands; EXEC will run none of them");
  }
  st.multi_queue.push_back(std::move(plan));
  return simple_reply("QUEUED");
}

// What MULTI, EXEC, DISCARD, WATCH, UNWATCH and RESET do, and what becomes
// of a command inside MULTI. Returns the reply when it is decided here;
// empty: `plan` goes on in order (a WATCH, UNWATCH, EXEC's transaction...).
std::string transaction_step(self_ptr self, command_plan& plan) {
  auto& st = self->state;
  const auto c = plan.control;
  if (c == "CLIENT" || c == "HELLO" || c == "AUTH") {
    if (!st.in_multi)
      return control_reply(self, plan);
    // Inside MULTI: queued, and run when EXEC's reply is made, as Redis
    // runs it at EXEC (a DISCARD or EXECABORT leaves the connection as it was).
    command_plan queued;
    queued.control = plan.control;
    queued.control_args = std::move(plan.control_args);
    return queue_in_multi(st, std::move(queued));
  }
  if (c == "RESET") {
    end_transaction(st);
    set_name(self, "");
    become_user(self, st.fe->access->at_connect());  // as Redis: back to the default user
    clear_watches_then(plan, simple_reply("RESET"));
    return {};
  }
  if (c == "MULTI") {
    if (st.in_multi)
      return error_reply("ERR MULTI calls can not be nested");
    st.in_multi = true;
    return simple_reply("OK");
  }
  if (c == "DISCARD") {
    if (!st.in_multi)
      return error_reply("ERR DISCARD without MULTI");
    end_transaction(st);
    clear_watches_then(plan, simple_reply("OK"));
    return {};
  }
  if (c == "UNWATCH" && !st.in_multi) {
    clear_watches_then(plan, simple_reply("OK"));
    return {};
  }
  if (c == "EXEC") {
    if (!st.in_multi)
      return error_reply("ERR EXEC without MULTI");
    if (st.multi_failed) {
      end_transaction(st);
      clear_watches_then(plan,
                         error_reply("EXECABORT Transaction discarded because of previous errors."));
      return {};
    }
    plan.kind = plan_kind::local;
    plan.queued = std::move(st.multi_queue);
    end_transaction(st);
    return {};
  }
  if (!st.in_multi)
    return {};  // WATCH outside MULTI: a read of its keys' versions
  if (plan.shape == reply_shape::watched)
    return error_reply("ERR WATCH inside MULTI is not allowed");
  if (plan.close_after)
    return {};  // QUIT: now
  if (c == "UNWATCH") {
    // Queued, as in Redis: EXEC still checks what was watched.
    plan = command_plan{};
    plan.reply = simple_reply("OK");
  }
  if (plan.kind == plan_kind::reply && refused_when_queued(plan.reply)) {
    st.multi_failed = true;
    return std::move(plan.reply);
  }
  if (plan.kind == plan_kind::keyspace || plan.kind == plan_kind::info ||
      !plan.control.empty()) {
    st.multi_failed = true;
    return error_reply("ERR this command cannot run inside MULTI in wtcached");
  }
  return queue_in_multi(st, std::move(plan));
}

// ---- CLIENT, HELLO, AUTH ---------------------------------------------------

// A reply decided without a shard; CLIENT, HELLO and AUTH run now (inside
// MULTI, that is when EXEC's reply is made).
std::string control_reply(self_ptr self, const command_plan& q) {
  if (q.control == "CLIENT")
    return client_step(self, q.control_args);
  if (q.control == "HELLO")
    return hello_step(self, q.control_args);
  if (q.control == "AUTH")
    return auth_step(self, q.control_args);
  return q.reply;
}

// Redis's rule for client and library names: printable, no spaces.
bool printable_name(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '!' && c <= '~'; });
}

constexpr const char* bad_name = "ERR Client names cannot contain spaces, newlines or special characters.";

void set_name(self_ptr self, const std::string& name) {
  auto& st = self->state;
  st.client_name = name;
  st.fe->clients->update(*st.me, [&](client_record& r) { r.name = name; });
}

std::string hello_reply(const connection_state& st) {
  std::string out;
  resp::array_header(out, 14);
  resp::bulk(out, "server");
  resp::bulk(out, "redis");
  resp::bulk(out, "version");
  resp::bulk(out, redis_version);
  resp::bulk(out, "proto");
  resp::integer(out, 2);
  resp::bulk(out, "id");
  resp::integer(out, static_cast<long long>(st.client_id));
  resp::bulk(out, "mode");
  resp::bulk(out, "standalone");
  resp::bulk(out, "role");
  resp::bulk(out, "master");
  resp::bulk(out, "modules");
  resp::array_header(out, 0);
  return out;
}

// The connection is now `u` (null: not authenticated). Before
// authentication the parser holds Redis's tighter limits.
void become_user(self_ptr self, const access_control::user* u) {
  auto& st = self->state;
  st.user = u;
  st.parser->require_auth(u == nullptr);
  auto name = u ? u->name : std::string("default");
  st.fe->clients->update(*st.me, [&](client_record& r) { r.user = name; });
}

constexpr const char* wrong_pass = "WRONGPASS invalid username-password pair or user is disabled.";

// AUTH and HELLO AUTH: empty when `user` / `password` are right (the
// connection is that user now), else the error text. A failure leaves the
// connection as it was, as in Redis.
std::string authenticate(self_ptr self, const std::string& user, const std::string& password) {
  auto& st = self->state;
  if (auto u = st.fe->access->authenticate(user, password)) {
    become_user(self, u);
    return {};
  }
  st.fe->metrics->auth_failures.fetch_add(1, std::memory_order_relaxed);
  // A user's name is not secret, the password is: only a name we know is
  // logged (a client that swapped the two sent its password as the name).
  st.fe->log->debug("connection {}: authentication as {} failed", st.client_id,
                   st.fe->access->has_user(user) ? "\"" + user + "\"" : std::string("an unknown user"));
  return wrong_pass;
}

std::string auth_step(self_ptr self, const std::vector<std::string>& a) {
  if (a.size() > 2)
    return error_reply("ERR syntax error");
  if (a.size() == 1 && self->state.fe->access->default_is_open())
    return error_reply("ERR AUTH <password> called without any password configured for the "
                       "default user. Are you sure your configuration is correct?");
  auto e = a.size() == 1 ? authenticate(self, "default", a[0]) : authenticate(self, a[0], a[1]);
  return e.empty() ? simple_reply("OK") : error_reply(e);
}

std::string hello_step(self_ptr self, const std::vector<std::string>& a) {
  std::size_t next = 0;
  if (!a.empty()) {
    int64_t version = 0;
    auto [p, ec] = std::from_chars(a[0].data(), a[0].data() + a[0].size(), version);
    if (ec != std::errc{} || p != a[0].data() + a[0].size())
      return error_reply("ERR Protocol version is not an integer or out of range");
    // RESP3 is not spoken here: clients fall back to RESP2.
    if (version != 2)
      return error_reply("NOPROTO unsupported protocol version");
    next = 1;
  }
  std::string user, password, name;
  bool auth = false, rename = false;
  for (auto j = next; j < a.size(); ++j) {
    auto more = a.size() - 1 - j;
    auto opt = uppered(a[j]);
    if (opt == "AUTH" && more >= 2) {
      auth = true;
      user = a[j + 1];
      password = a[j + 2];
      j += 2;
    } else if (opt == "SETNAME" && more >= 1) {
      rename = true;
      name = a[++j];
      if (!printable_name(name))
        return error_reply(bad_name);
    } else {
      return error_reply("ERR Syntax error in HELLO option '" + a[j] + "'");
    }
  }
  if (auth)
    if (auto e = authenticate(self, user, password); !e.empty())
      return error_reply(e);
  if (!self->state.user)
    return error_reply("NOAUTH HELLO must be called with the client already authenticated, "
                       "otherwise the HELLO AUTH <user> <pass> option can be used to "
                       "authenticate the client and select the RESP protocol version at the "
                       "same time");
  if (rename)
    set_name(self, name);
  return hello_reply(self->state);
}

std::string client_step(self_ptr self, const std::vector<std::string>& a) {
  auto& st = self->state;
  auto sub = uppered(a[0]);
  auto wrong = [&] {
    auto lower = lowered(sub);
    return error_reply("ERR wrong number of arguments for 'client|" + lower + "' command");
  };
  auto now = steady::now();
  if (sub == "ID") {
    if (a.size() != 1)
      return wrong();
    std::string out;
    resp::integer(out, static_cast<long long>(st.client_id));
    return out;
  }
  if (sub == "GETNAME") {
    if (a.size() != 1)
      return wrong();
    std::string out;
    bulk_or_nil(out, !st.client_name.empty(), st.client_name);
    return out;
  }
  if (sub == "SETNAME") {
    if (a.size() != 2)
      return wrong();
    if (!printable_name(a[1]))
      return error_reply(bad_name);
    set_name(self, a[1]);
    return simple_reply("OK");
  }
  if (sub == "SETINFO") {
    if (a.size() != 3)
      return wrong();
    auto attr = lowered(a[1]);
    if (attr != "lib-name" && attr != "lib-ver")
      return error_reply("ERR Unrecognized option '" + a[1] + "'");
    if (!printable_name(a[2]))
      return error_reply("ERR " + attr + " cannot contain spaces, newlines or special characters.");
    st.fe->clients->update(*st.me, [&](client_record& r) {
      (attr == "lib-name" ? r.lib_name : r.lib_ver) = a[2];
    });
    return simple_reply("OK");
  }
  if (sub == "NO-EVICT" || sub == "NO-TOUCH") {
    if (a.size() != 2)
      return wrong();
    auto v = lowered(a[1]);
    if (v != "on" && v != "off")
      return error_reply("ERR syntax error");
    return simple_reply("OK");
  }
  if (sub == "INFO") {
    if (a.size() != 1)
      return wrong();
    std::string out;
    for (auto& r : st.fe->clients->all())
      if (r.id == st.client_id)
        resp::bulk(out, client_line(r, now) + "\n");
    return out;
  }
  if (sub == "LIST") {
    std::set<uint64_t> ids;
    for (std::size_t i = 1; i < a.size(); ++i) {
      auto opt = uppered(a[i]);
      if (opt == "ID" && i + 1 < a.size()) {
        for (++i; i < a.size(); ++i) {
          uint64_t id = 0;
          auto [p, ec] = std::from_chars(a[i].data(), a[i].data() + a[i].size(), id);
          if (ec != std::errc{} || p != a[i].data() + a[i].size() || id == 0)
            return error_reply("ERR Invalid client ID");
          ids.insert(id);
        }
      } else if (opt == "TYPE" && i + 1 < a.size()) {
        ++i;  // every client here is a normal one
      } else {
        return error_reply("ERR syntax error");
      }
    }
    std::string text;
    for (auto& r : st.fe->clients->all())
      if (ids.empty() || ids.count(r.id))
        text += client_line(r, now) + "\n";
    std::string out;
    resp::bulk(out, text);
    return out;
  }
  if (sub == "KILL") {
    if (a.size() < 2)
      return wrong();
    // CLIENT KILL addr (the old form), or filters: ID, ADDR, LADDR, SKIPME.
    bool old_form = a.size() == 2;
    std::string addr = old_form ? a[1] : std::string(), laddr;
    uint64_t id = 0;
    bool skip_me = !old_form;
    std::optional<std::string> user;
    bool not_normal = false;
    for (std::size_t i = 1; !old_form && i < a.size(); i += 2) {
      if (i + 1 >= a.size())
        return error_reply("ERR syntax error");
      auto opt = uppered(a[i]);
      if (opt == "ID") {
        auto [p, ec] = std::from_chars(a[i + 1].data(), a[i + 1].data() + a[i + 1].size(), id);
        if (ec != std::errc{} || p != a[i + 1].data() + a[i + 1].size() || id == 0)
          return error_reply("ERR client-id should be greater than 0");
      } else if (opt == "ADDR") {
        addr = a[i + 1];
      } else if (opt == "LADDR") {
        laddr = a[i + 1];
      } else if (opt == "SKIPME") {
        auto v = lowered(a[i + 1]);
        if (v != "yes" && v != "no")
          return error_reply("ERR syntax error");
        skip_me = v == "yes";
      } else if (opt == "USER") {
        if (!st.fe->access->has_user(a[i + 1]))
          return error_reply("ERR No such user '" + a[i + 1] + "'");
        user = a[i + 1];
      } else if (opt == "TYPE") {
        auto t = lowered(a[i + 1]);
        if (t != "normal" && t != "master" && t != "replica" && t != "slave" && t != "pubsub")
          return error_reply("ERR Unknown client type '" + a[i + 1] + "'");
        not_normal = t != "normal";  // every client here is a normal one
      } else {
        return error_reply("ERR syntax error");
      }
    }
    long long killed = 0;
    bool me = false;
    for (auto& r : st.fe->clients->all()) {
      if (not_normal || (id && r.id != id) || (!addr.empty() && r.addr != addr) ||
          (!laddr.empty() && r.laddr != laddr) || (user && r.user != *user))
        continue;
      if (r.id == st.client_id) {
        if (skip_me)
          continue;
        me = true;  // closed once this reply is out
      } else {
        caf::anon_send_exit(r.actor, caf::exit_reason::user_shutdown);
      }
      ++killed;
    }
    if (me)
      st.close_at = st.next_seq - 1;
    if (old_form)
      return killed ? simple_reply("OK") : error_reply("ERR No such client");
    std::string out;
    resp::integer(out, killed);
    return out;
  }
  if (sub == "REPLY") {
    if (a.size() == 2 && (a[1] == "ON" || a[1] == "on"))
      return simple_reply("OK");
    return error_reply("ERR CLIENT REPLY OFF and SKIP are not supported by wtcached");
  }
  return error_reply("ERR unknown subcommand '" + a[0] + "'. Try CLIENT HELP.");
}

// Whether the client may run this command, as Redis decides before it
// runs one: an unknown command or a wrong argument count is answered as
// such whoever asks (plan_command does); then NOAUTH before
// authentication (AUTH, HELLO, QUIT and RESET excepted); then the user's
// permissions (NOPERM). Empty: go on.
std::string admission(self_ptr self, const std::vector<std::string>& args) {
  auto& st = self->state;
  if (args.empty() || (st.user && st.user->all_keys && !st.user->read_only))
    return {};  // a user with every right: nothing to look up
  const auto* info = find_command(lowered(args[0]));
  if (!info)
    return {};
  auto argc = static_cast<int>(args.size());
  if (info->arity > 0 ? argc != info->arity : argc < -info->arity)
    return {};
  // A refused EXEC discards the transaction, and Redis says so.
  std::string prefix = std::string(info->name) == "exec"
                         ? "EXECABORT Transaction discarded because of: " : "";
  if (!st.user) {
    if (has_flag(*info, "no_auth"))
      return {};
    st.fe->metrics->unauthenticated_refusals.fetch_add(1, std::memory_order_relaxed);
    return error_reply(prefix + "NOAUTH Authentication required.");
  }
  auto d = check_access(*st.user, *info, args);
  if (d == denial::none)
    return {};
  (d == denial::key ? st.fe->metrics->denied_keys : st.fe->metrics->denied_commands)
    .fetch_add(1, std::memory_order_relaxed);
  return error_reply(prefix + noperm_text(d, acl_command_name(args)));
}

void on_command(self_ptr self, resp::command& cmd) {
  auto& st = self->state;
  auto seq = st.next_seq++;
  st.fe->clients->update(*st.me, [&](client_record& r) {
    r.last_command = steady::now();
    // A name we know, or NULL as Redis shows an unknown one: the first
    // argument is the client's to choose (a password sent by mistake, a
    // line break that would forge a line of CLIENT LIST, 16 KiB kept for
    // the connection's life).
    bool known = !cmd.args.empty() && cmd.args[0].size() <= 32;
    if (known && ::strcasecmp(cmd.args[0].c_str(), r.last_command_name.c_str()) != 0) {
      auto name = lowered(cmd.args[0]);  // a new name: looked up once, not per command
      known = find_command(name) != nullptr;
      r.last_command_name = known ? std::move(name) : std::string("NULL");
    } else if (!known) {
      r.last_command_name = "NULL";
    }
    // Only a container command's: AUTH's next argument is a password.
    r.last_subcommand.clear();
    if (known && cmd.args.size() > 1 && r.last_command_name == "client" &&
        cmd.args[1].size() <= 32 &&
        std::all_of(cmd.args[1].begin(), cmd.args[1].end(),
                    [](unsigned char ch) { return std::isalpha(ch) != 0; }))
      r.last_subcommand.assign(cmd.args[1]);
    r.in_multi = st.in_multi;
  });
  st.fe->metrics->commands.fetch_add(1, std::memory_order_relaxed);
  st.started.emplace_back(&st.fe->metrics->command(cmd.args.empty() ? std::string() : cmd.args[0]),
                          steady::now());
  if (cmd.oversized_bytes > 0) {
    st.multi_failed = st.multi_failed || st.in_multi;  // EXEC then refuses, as in Redis
    complete(self, seq, error_reply(oversized_error(cmd.oversized_bytes,
                                                    st.fe->parse_limits.max_bulk)));
    return;
  }
  if (auto refusal = admission(self, cmd.args); !refusal.empty()) {
    st.multi_failed = st.multi_failed || st.in_multi;
    complete(self, seq, std::move(refusal));
    return;
  }
  auto plan = plan_command(cmd.args, *st.fe->spaces, st.fe->limits);
  if (!plan.control.empty() || st.in_multi) {
    if (auto reply = transaction_step(self, plan); !reply.empty()) {
      complete(self, seq, std::move(reply));
      return;
    }
  }
  switch (plan.kind) {
    case plan_kind::reply:
      if (plan.close_after)
        st.close_at = seq;
      complete(self, seq, std::move(plan.reply));
      return;
    case plan_kind::info: {
      auto text = info_text(info_sources{st.fe->metrics.get(), st.fe->health.get(), st.fe->started,
                                         st.fe->port, st.fe->shards.size()},
                            plan.info_section);
      std::string out;
      resp::bulk(out, text);
      complete(self, seq, std::move(out));
      return;
    }
    default:
      st.waiting.push_back({seq, std::move(plan)});
      pump(self);
  }
}

// [server] timeout: a client that sent nothing for that long and waits
// for no reply is closed, as Redis does. One timer per connection, set
// again for what is left of the period.
void check_idle(self_ptr self) {
  auto& st = self->state;
  if (st.closed)
    return;
  auto idle = steady::now() - st.last_input;
  if (idle >= st.fe->idle_timeout && unanswered(st) == 0) {
    st.fe->log->debug("connection {}: closing after {} s idle", st.client_id,
                      st.fe->idle_timeout.count());
    close_now(self);
    return;
  }
  auto left = idle >= st.fe->idle_timeout ? st.fe->idle_timeout
                                          : st.fe->idle_timeout - idle;
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::milliseconds>(left) +
                             std::chrono::milliseconds(1),
                     atom::idle::value);
}

void on_data(self_ptr self, const std::vector<char>& buf) {
  auto& st = self->state;
  if (st.closed || st.close_at != UINT64_MAX)
    return;  // QUIT or a protocol error: nothing after it is read
  st.last_input = steady::now();
  if (auto size = read_size_after(st.read_size, buf.size()); size != st.read_size) {
    st.read_size = size;
    self->configure_read(st.hdl, caf::io::receive_policy::at_most(size));
  }
  st.parser->feed(buf.data(), buf.size());
  resp::command cmd;
  for (;;) {
    auto status = st.parser->next(cmd);
    if (status == resp::parser::status::incomplete)
      break;
    if (status == resp::parser::status::error) {
      auto seq = st.next_seq++;
      st.close_at = seq;
      st.started.emplace_back(&st.fe->metrics->command("other"), steady::now());
      st.fe->log->info("connection: closing after a protocol error: {}", st.parser->error_message());
      complete(self, seq, error_reply("ERR " + st.parser->error_message()));
      return;
    }
    on_command(self, cmd);
    if (st.close_at != UINT64_MAX)
      return;
  }
  if (unanswered(st) >= st.fe->max_pipeline)
    halt_reading(self);
}

}  // namespace

// CAF zero-fills a connection's whole read buffer before every read (it
// shrinks it to what was read, hands it over, then resizes it back): 64 KiB
// of memset for a 30-byte GET. So reads start at 4 KiB, grow fourfold (16,
// then 64 KiB) while they come back full (a large value, a deep pipeline),
// and drop back once one does not. An idle connection then holds about
// 8 KiB in all, not 20 (measured with 1000 idle clients; the README's
// Security section). (The buffer keeps its largest capacity for the
// connection's life: 64 KiB at most, as before.)
std::size_t read_size_after(std::size_t current, std::size_t got) {
  constexpr std::size_t smallest = 4 * 1024, largest = 64 * 1024;
  return got >= current ? std::min(current * 4, largest) : smallest;
}


front_end front_end_from(const config& cfg) {
  front_end fe;
  fe.log = logger_of(cfg);
  fe.redis_keys = cfg.redis_keys();
  fe.redis_timeout = cfg.redis_timeout;
  fe.parse_limits.max_bulk = cfg.max_value_bytes;
  fe.limits.max_value_bytes = cfg.max_value_bytes;
  fe.limits.allow_flush = cfg.allow_flush;
  // A shard answers within its own deadlines (database, then cache); the
  // client's deadline covers both plus the queueing before them.
  fe.request_timeout = cfg.request_timeout;
  fe.answer_timeout = cfg.request_timeout + cfg.postgres_timeout + cfg.redis_timeout +
                      cfg.dirty_lease + std::chrono::seconds(2);
  fe.max_pipeline = cfg.max_pipeline;
  fe.host = cfg.listen_host;
  fe.max_reply_buffer_bytes = cfg.max_reply_buffer_bytes;
  fe.access = std::make_shared<access_control>(cfg.requirepass_sha256, cfg.users);
  fe.maxclients = cfg.maxclients;
  fe.idle_timeout = cfg.idle_timeout;
  fe.limits.maxclients = cfg.maxclients;
  fe.limits.idle_timeout_seconds = cfg.idle_timeout.count();
  return fe;
}

caf::behavior connection(self_ptr self, caf::io::connection_handle hdl,
                         std::shared_ptr<const front_end> fe) {
  close_mailbox_at_exit(self);
  auto& st = self->state;
  st.fe = std::move(fe);
  st.hdl = hdl;
  st.parser = std::make_unique<resp::parser>(st.fe->parse_limits);
  st.fe->metrics->connections_total.fetch_add(1, std::memory_order_relaxed);
  st.fe->metrics->connections_open.fetch_add(1, std::memory_order_relaxed);
  client_record me;
  me.addr = self->remote_addr(hdl) + ":" + std::to_string(self->remote_port(hdl));
  me.laddr = st.fe->host + ":" + std::to_string(st.fe->port);
  me.created = me.last_command = steady::now();
  me.actor = caf::actor_cast<caf::actor>(self);
  st.me = st.fe->clients->enter(std::move(me));
  st.client_id = st.me->id;
  self->attach_functor([m = st.fe->metrics, clients = st.fe->clients, id = st.client_id] {
    m->connections_open.fetch_sub(1, std::memory_order_relaxed);
    clients->leave(id);
  });
  become_user(self, st.fe->access->at_connect());
  if (st.fe->idle_timeout.count() > 0)
    self->delayed_send(self, st.fe->idle_timeout, atom::idle::value);
  self->configure_read(hdl, caf::io::receive_policy::at_most(st.read_size));
  self->ack_writes(hdl, true);
  return {
    [=](const caf::io::new_data_msg& msg) { on_data(self, msg.buf); },
    [=](atom::deadline) { on_watchdog(self); },
    [=](const caf::io::data_transferred_msg& msg) {
      auto& st = self->state;
      st.unsent_bytes = msg.remaining;
      st.last_drained = steady::now();
      if (st.output_over_limit && st.unsent_bytes <= st.fe->max_reply_buffer_bytes / 2) {
        st.output_over_limit = false;
        maybe_resume_reading(self);
      }
    },
    [=](atom::tick) { check_output(self); },
    [=](atom::resume) { on_resume(self); },
    [=](atom::idle) { check_idle(self); },
    [=](const caf::io::connection_closed_msg&) {
      self->state.closed = true;
      self->quit();
    },
  };
}

}  // namespace wtcache
