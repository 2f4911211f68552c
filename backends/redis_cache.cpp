// The cache entry format and the calls that read and write it (fence, enqueue).
#include "backends/redis_cache.hpp"

#include <algorithm>
#include <chrono>
#include <tuple>
#include <unordered_map>

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "core/namespaces.hpp"
#include "core/resp.hpp"
#include "messages/errors.hpp"

namespace wtcache {

cache_entry cache_entry_of(std::string_view version, std::string_view kind,
                           std::string_view data, std::string_view expires,
                           std::string_view marks) {
  cache_entry e;
  if (!marks.empty() && marks != "0") {
    // A write may have committed a newer value: nothing here is current.
    e.present = true;
    e.tombstone = true;
    return e;
  }
  if (!expires.empty())
    e.expires_ms = std::strtoll(std::string(expires).c_str(), nullptr, 10);
  e.present = true;
  e.version = std::strtoll(std::string(version).c_str(), nullptr, 10);
  e.tombstone = kind == "t";
  e.deleted = kind == "x";
  e.data.assign(data);
  return e;
}

caf::expected<std::vector<cache_entry>> read_entries(redis_connection& redis,
                                                     const std::vector<std::string>& keys) {
  if (auto err = redis.connect())
    return err;
  for (auto& k : keys) {
    const char* argv[] = {"HMGET", k.data(), "v", "k", "d", "e", "p"};
    std::size_t lens[] = {5, k.size(), 1, 1, 1, 1, 1};
    redis.append(7, argv, lens);
  }
  std::vector<cache_entry> out(keys.size());
  for (auto& e : out) {
    redis_reply r;
    if (auto err = redis.next_reply(r))
      return err;
    e = entry_of_reply(r.get());
  }
  return out;
}

cache_entry entry_of_reply(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
    return {};
  auto text = [](const redisReply* x) {
    return x->type == REDIS_REPLY_STRING ? std::string_view(x->str, x->len) : std::string_view();
  };
  auto marks = text(r->element[4]);
  auto* v = r->element[0];
  auto* k = r->element[1];
  if ((v->type != REDIS_REPLY_STRING || k->type != REDIS_REPLY_STRING) && marks.empty())
    return {};
  return cache_entry_of(text(v), text(k), text(r->element[2]), text(r->element[3]), marks);
}

void append_entry_read(std::string& out, std::string_view redis_key) {
  out += "*7\r\n$5\r\nHMGET\r\n";
  resp::bulk(out, redis_key);
  out += "$1\r\nv\r\n$1\r\nk\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\np\r\n";
}

std::vector<std::vector<std::size_t>> by_slot(const std::vector<std::string>& keys, bool cluster) {
  std::vector<std::vector<std::size_t>> out;
  if (!cluster) {
    out.emplace_back(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i)
      out[0][i] = i;
    return out;
  }
  std::unordered_map<uint16_t, std::size_t> at;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto [it, added] = at.emplace(key_slot(keys[i]), out.size());
    if (added)
      out.emplace_back();
    out[it->second].push_back(i);
  }
  return out;
}

namespace {

// The script calls of one round of fenced writes: up to 128 entries and
// 4 MiB per call (a call holds Redis up while it runs, and Redis refuses a
// command beyond its query buffer limit, 1 GiB), pipelined. On a Redis
// Cluster a call's entries are of one slot: the writes go in slot order.
class fence_calls {
public:
  fence_calls(const std::vector<cache_write>& writes, bool cluster) : writes_(writes) {
    order_.resize(writes.size());
    for (std::size_t i = 0; i < writes.size(); ++i)
      order_[i] = i;
    if (cluster) {
      slots_.resize(writes.size());
      for (std::size_t i = 0; i < writes.size(); ++i)
        slots_[i] = key_slot(writes[i].redis_key);
      std::stable_sort(order_.begin(), order_.end(),
                       [&](auto a, auto b) { return slots_[a] < slots_[b]; });
    }
  }

  // The first position of every call.
  std::vector<std::size_t> all() const {
    std::vector<std::size_t> firsts;
    for (std::size_t first = 0; first < writes_.size(); first += entries_in_call(first))
      firsts.push_back(first);
    return firsts;
  }

  // Appends the calls (hiredis sends them with the next read, or send()).
  void send(redis_connection& redis, const std::vector<std::size_t>& firsts) {
    for (auto first : firsts)
      send_call(redis, first);
  }

  // Reads the answers of every call sent; a call the script cache lost
  // (NOSCRIPT) is sent again once the script is loaded again.
  caf::expected<std::vector<cache_write_result>> answers(redis_connection& redis,
                                                         spdlog::logger& log) {
    std::vector<cache_write_result> out(writes_.size(), cache_write_result::failed);
    auto calls = all();
    for (int attempt = 0; attempt < 2 && !calls.empty(); ++attempt) {
      if (attempt == 1) {
        if (auto err = redis.reload(redis_script::fence)) {
          redis.disconnect();
          return make_error(ec::redis_unavailable, "cannot load the fence script");
        }
        send(redis, calls);
      }
      std::vector<std::size_t> retry;
      for (auto first : calls) {
        auto n = entries_in_call(first);
        redis_reply r;
        if (auto err = redis.next_reply(r))
          return err;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == n) {
          for (std::size_t j = 0; j < n; ++j) {
            auto* e = r->element[j];
            out[order_[first + j]] = e->type != REDIS_REPLY_INTEGER ? cache_write_result::failed
                             : e->integer == 1                ? cache_write_result::applied
                                                              : cache_write_result::fenced;
          }
        } else if (is_error_code(r.get(), "NOSCRIPT")) {
          retry.push_back(first);
        } else {
          log.warn("redis: {} fenced write(s) from {} on failed: {}", n,
                   writes_[order_[first]].redis_key,
                   r->type == REDIS_REPLY_ERROR ? reply_text(r.get()) : "unexpected reply");
        }
      }
      calls.swap(retry);
    }
    return out;
  }

private:
  std::size_t entries_in_call(std::size_t first) const {
    constexpr std::size_t per_call = 128;
    constexpr std::size_t bytes_per_call = 4 * 1024 * 1024;
    std::size_t n = 0, bytes = 0;
    while (first + n < writes_.size() && n < per_call &&
           (n == 0 || (bytes + at(first + n).data.size() <= bytes_per_call &&
                       (slots_.empty() || slots_[order_[first + n]] == slots_[order_[first]]))))
      bytes += at(first + n++).data.size();
    return n;
  }

  const cache_write& at(std::size_t position) const { return writes_[order_[position]]; }

  void send_call(redis_connection& redis, std::size_t first) {
    auto n = entries_in_call(first);
    const auto& sha = redis.sha(redis_script::fence);
    auto count = std::to_string(n);
    std::vector<const char*> argv{"EVALSHA", sha.data(), count.data()};
    std::vector<std::size_t> lens{7, sha.size(), count.size()};
    std::vector<std::string> numbers;  // versions, TTLs and expiries as text, three per entry
    numbers.reserve(3 * n);
    for (std::size_t i = first; i < first + n; ++i) {
      argv.push_back(at(i).redis_key.data());
      lens.push_back(at(i).redis_key.size());
    }
    for (std::size_t i = first; i < first + n; ++i) {
      auto& w = at(i);
      numbers.push_back(std::to_string(w.version));
      numbers.push_back(std::to_string(w.ttl_ms));
      numbers.push_back(std::to_string(w.expires_ms));
      auto& version = numbers[numbers.size() - 3];
      auto& ttl = numbers[numbers.size() - 2];
      auto& expires = numbers.back();
      const char* kind = w.release ? "r" : w.tombstone ? "t" : w.pending ? "p" : "v";
      argv.insert(argv.end(), {version.data(), kind, w.data.data(), ttl.data(), expires.data(),
                               w.mark.data()});
      lens.insert(lens.end(),
                  {version.size(), 1, w.data.size(), ttl.size(), expires.size(), w.mark.size()});
    }
    redis.append(argv.size(), argv.data(), lens.data());
  }

  const std::vector<cache_write>& writes_;
  std::vector<std::size_t> order_;  // position -> index in writes_
  std::vector<uint16_t> slots_;     // a cluster: each write's slot
};

}  // namespace

caf::expected<std::vector<cache_write_result>>
write_fenced(redis_connection& redis, const std::vector<cache_write>& writes, spdlog::logger& log) {
  // Values that expire: their TTL now, and those too close to their expiry
  // left out (cache_write::expire_by_ns).
  if (std::any_of(writes.begin(), writes.end(), [](auto& w) { return w.expire_by_ns != 0; })) {
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto floor = shortest_entry_ttl_ms(redis.timeout());
    std::vector<cache_write> kept;
    std::vector<std::size_t> where;
    for (std::size_t i = 0; i < writes.size(); ++i) {
      auto w = writes[i];
      if (w.expire_by_ns != 0) {
        auto left = (w.expire_by_ns - now) / 1'000'000;
        if (left < floor) {
          // Too close to its expiry to be cached. A transaction's cache
          // update leaves a tombstone at its version instead, with the
          // mark taken away: the older copy must not come back.
          if (!w.mark.empty()) {
            w.tombstone = true;
            w.data.clear();
            w.ttl_ms = floor;
            w.expire_by_ns = 0;
            kept.push_back(std::move(w));
            where.push_back(i);
          }
          continue;
        }
        w.ttl_ms = w.ttl_ms > 0 ? std::min(w.ttl_ms, left) : left;
        w.expire_by_ns = 0;
      }
      kept.push_back(std::move(w));
      where.push_back(i);
    }
    // One left out (a fill) counts as failed.
    std::vector<cache_write_result> out(writes.size(), cache_write_result::failed);
    auto rs = write_fenced(redis, kept, log);
    if (!rs)
      return rs;
    for (std::size_t j = 0; j < rs->size() && j < where.size(); ++j)
      out[where[j]] = (*rs)[j];
    return out;
  }
  if (auto err = redis.connect())
    return err;
  fence_calls calls(writes, redis.cluster());
  calls.send(redis, calls.all());
  return calls.answers(redis, log);
}

caf::error send_fenced(redis_connection& redis, const std::vector<cache_write>& writes) {
  if (auto err = redis.connect())
    return err;
  fence_calls calls(writes, redis.cluster());
  calls.send(redis, calls.all());
  return redis.send();
}

caf::expected<std::vector<cache_write_result>>
fenced_answers(redis_connection& redis, const std::vector<cache_write>& writes,
               spdlog::logger& log) {
  return fence_calls(writes, redis.cluster()).answers(redis, log);
}

namespace {

caf::error mark_reply(const redis_reply& r, std::size_t entries) {
  if (r->type == REDIS_REPLY_ERROR)
    return make_error(ec::redis_error, reply_text(r.get()));
  if (r->type != REDIS_REPLY_INTEGER || r->integer != static_cast<long long>(entries))
    return make_error(ec::redis_error, "unexpected reply from the mark script");
  return caf::none;
}

// mark.lua's arguments.
std::vector<std::string> mark_args(const std::string& id, int64_t lifetime_ms) {
  return {id, std::to_string(lifetime_ms)};
}

}  // namespace

// The keys of each mark call: all at once, or on a Redis Cluster a call per slot.
std::vector<std::vector<std::string>> mark_calls(const redis_connection& redis,
                                                 const std::vector<std::string>& redis_keys) {
  std::vector<std::vector<std::string>> calls;
  for (auto& slot : by_slot(redis_keys, redis.cluster())) {
    calls.emplace_back();
    for (auto i : slot)
      calls.back().push_back(redis_keys[i]);
  }
  return calls;
}

caf::error mark_pending(redis_connection& redis, const std::vector<std::string>& redis_keys,
                        const std::string& id, int64_t lifetime_ms) {
  for (auto& keys : mark_calls(redis, redis_keys)) {
    auto r = redis.eval(redis_script::mark, keys, mark_args(id, lifetime_ms));
    if (!r)
      return r.error();
    if (auto err = mark_reply(*r, keys.size()))
      return err;
  }
  return caf::none;
}

caf::error send_mark(redis_connection& redis, const std::vector<std::string>& redis_keys,
                     const std::string& id, int64_t lifetime_ms) {
  if (auto err = redis.connect())
    return err;
  for (auto& keys : mark_calls(redis, redis_keys))
    redis.append(redis.evalsha(redis_script::mark, keys, mark_args(id, lifetime_ms)));
  return redis.send();
}

caf::error mark_answered(redis_connection& redis, const std::vector<std::string>& redis_keys,
                         const std::string& id, int64_t lifetime_ms) {
  caf::error failed;
  bool lost_script = false;
  for (auto& keys : mark_calls(redis, redis_keys)) {
    redis_reply r;
    if (auto err = redis.next_reply(r))
      return err;
    if (is_error_code(r.get(), "NOSCRIPT"))
      lost_script = true;
    else if (auto err = mark_reply(r, keys.size()); err && !failed)
      failed = std::move(err);
  }
  if (lost_script)
    return mark_pending(redis, redis_keys, id, lifetime_ms);  // loads it again
  return failed;
}

namespace {

// An error reply Redis gives before a script runs (so nothing of it ran).
bool refused_before_running(const std::string& text) {
  for (const char* code : {"TRYAGAIN", "CLUSTERDOWN", "MOVED", "ASK", "NOSCRIPT", "OOM",
                           "READONLY", "LOADING", "MASTERDOWN", "BUSY", "CROSSSLOT"})
    if (text.rfind(code, 0) == 0)
      return true;
  return false;
}

// The keys and arguments of one call of the enqueue script.
struct enqueue_arguments {
  std::vector<std::string> keys, args;
};

enqueue_arguments arguments_of(const key_layout& layout, const std::vector<queued_write>& writes) {
  constexpr const char* kinds[] = {"s", "d", "i"};
  // The call declares every key it touches; the ops name them by index.
  enqueue_arguments a;
  auto& keys = a.keys;
  auto& args = a.args;
  std::unordered_map<std::string, std::size_t> index_of;
  auto key = [&](std::string k) {
    auto [at, added] = index_of.emplace(k, keys.size() + 1);
    if (added)
      keys.push_back(std::move(k));
    return std::to_string(at->second);
  };
  args.reserve(1 + writes.size() * 19);
  args.push_back(std::to_string(writes.size()));
  for (auto& w : writes) {
    auto g = layout.group_of(w.key);
    args.push_back(std::to_string(w.group));
    args.push_back(kinds[static_cast<int>(w.kind)]);
    args.push_back(w.key);
    args.push_back(w.value);
    args.push_back(std::to_string(w.delta));
    args.push_back(std::to_string(w.ttl_ms));
    args.push_back(key(w.redis_key));
    args.push_back(key(w.stream));
    args.push_back(key(w.stats));
    args.push_back(std::to_string(w.max_entries));
    args.push_back(std::to_string(w.max_bytes));
    args.push_back(std::to_string(w.low_entries));
    args.push_back(std::to_string(w.low_bytes));
    args.push_back(std::to_string(static_cast<int>(w.loaded)));
    args.push_back(w.loaded_value);
    args.push_back(std::to_string(w.loaded_version));
    args.push_back(std::to_string(w.expect));
    args.push_back(std::to_string(w.expires_ms));
    args.push_back(key(layout.scratch(g)));
  }
  return a;
}

// What the script answered for `n` commands' ops.
caf::expected<std::vector<queued_result>> results_of(const redisReply* rep, std::size_t n) {
  if (rep->type == REDIS_REPLY_ERROR)
    return make_error(ec::redis_error, reply_text(rep));
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4 * n)
    return make_error(ec::redis_error, "unexpected reply from the enqueue script");
  auto str = [&](std::size_t i) {
    auto* e = rep->element[i];
    return e->type == REDIS_REPLY_STRING ? std::string(e->str, e->len) : std::string();
  };
  std::vector<queued_result> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto status = str(4 * i);
    auto& o = out[i];
    o.status = status == "done"         ? queued_status::done
               : status == "busy"       ? queued_status::busy
               : status == "refused"    ? queued_status::refused
               : status == "needs_load" ? queued_status::needs_load
               : status == "changed"    ? queued_status::changed
                                        : queued_status::not_run;
    o.version = std::strtoll(str(4 * i + 1).c_str(), nullptr, 10);
    o.count = std::strtoll(str(4 * i + 2).c_str(), nullptr, 10);
    o.error = str(4 * i + 3);
  }
  return out;
}

// One call of the enqueue script, made at once.
caf::expected<std::vector<queued_result>> enqueue_call(redis_connection& redis,
                                                       const key_layout& layout,
                                                       const std::vector<queued_write>& writes) {
  auto a = arguments_of(layout, writes);
  bool sent = false;
  auto r = redis.eval(redis_script::enqueue, a.keys, a.args, &sent);
  if (!r) {
    // Once the call went out it may have run: nobody can say it did not.
    if (sent)
      return make_error(ec::outcome_unknown,
                        "lost the connection to redis: " + error_detail(r.error()));
    return r.error();
  }
  return results_of(r->get(), writes.size());
}

}  // namespace

caf::expected<std::vector<queued_result>> enqueue(redis_connection& redis,
                                                  const key_layout& layout,
                                                  const std::vector<queued_write>& writes) {
  if (!redis.cluster())
    return enqueue_call(redis, layout, writes);
  // A Redis Cluster runs a script on one slot: a call per slot, and a
  // command whose keys are of different slots is refused, as Redis Cluster
  // refuses one (keys with one hash tag share a group, so a slot).
  std::vector<std::string> keys;
  for (auto& w : writes)
    keys.push_back(w.redis_key);
  std::unordered_map<uint32_t, uint16_t> slot_of_command;
  std::unordered_map<uint32_t, bool> crossing;
  for (std::size_t i = 0; i < writes.size(); ++i) {
    auto slot = key_slot(keys[i]);
    auto [it, added] = slot_of_command.emplace(writes[i].group, slot);
    if (!added && it->second != slot)
      crossing[writes[i].group] = true;
  }
  // Each slot's call answers for its own commands, and the calls go out
  // pipelined, each at its slot's master: one that fails leaves the others'
  // results standing. Its commands are unknown when it may have run (it
  // went out and no answer came, or the script failed part-way) and
  // unavailable when it did not (its master was not reached, or refused
  // before running it). Only when no call ran, nor may have, is the
  // failure the whole call's (the breaker's).
  if (auto err = redis.connect())  // the scripts' SHA1s, for the EVALSHAs
    return err;
  std::vector<queued_result> out(writes.size());
  struct part {
    std::vector<queued_write> writes;
    std::vector<std::size_t> where;
  };
  std::vector<part> parts;
  std::vector<std::vector<std::string>> cmds;
  for (auto& slot : by_slot(keys, true)) {
    part p;
    for (auto i : slot) {
      if (crossing.count(writes[i].group)) {
        out[i].status = queued_status::refused;
        out[i].error = "CROSSSLOT Keys in request don't hash to the same slot (write-behind keys "
                       "of one command must share a hash tag on a Redis Cluster)";
        continue;
      }
      p.writes.push_back(writes[i]);
      p.where.push_back(i);
    }
    if (p.writes.empty())
      continue;
    auto a = arguments_of(layout, p.writes);
    cmds.push_back(redis.evalsha(redis_script::enqueue, a.keys, a.args));
    parts.push_back(std::move(p));
  }
  auto outcomes = redis.pipeline_each(cmds);
  caf::error first_failure;
  bool ran = false, maybe = false;  // a call ran; a failed one may have
  for (std::size_t k = 0; k < parts.size(); ++k) {
    auto& p = parts[k];
    auto& o = outcomes[k];
    auto failed = [&](queued_status status, const caf::error& err) {
      if (!first_failure)
        first_failure = err;
      maybe = maybe || status == queued_status::unknown;
      for (auto i : p.where) {
        out[i].status = status;
        out[i].error = error_detail(err);
      }
    };
    caf::expected<std::vector<queued_result>> rs{std::vector<queued_result>{}};
    if (o.error) {
      if (o.sent)
        failed(queued_status::unknown,
               make_error(ec::outcome_unknown,
                          "lost the connection to redis: " + error_detail(o.error)));
      else
        failed(queued_status::unavailable, o.error);
      continue;
    }
    if (is_error_code(o.reply.get(), "NOSCRIPT"))
      rs = enqueue_call(redis, layout, p.writes);  // loads the script again
    else
      rs = results_of(o.reply.get(), p.writes.size());
    if (rs) {
      ran = true;
      for (std::size_t j = 0; j < p.where.size(); ++j)
        out[p.where[j]] = std::move((*rs)[j]);
      continue;
    }
    auto& err = rs.error();
    if (err == ec::outcome_unknown)
      failed(queued_status::unknown, err);
    else if (err == ec::redis_error && !refused_before_running(error_detail(err)))
      failed(queued_status::unknown, make_error(ec::outcome_unknown, error_detail(err)));
    else
      failed(queued_status::unavailable, err);
  }
  // Nothing ran and nothing may have: the whole call's failure. (One that
  // may have run keeps its commands' own answers: unknown.)
  if (!ran && !maybe && first_failure)
    return first_failure;
  return out;
}

caf::expected<std::vector<int64_t>> info_figures(redis_connection& redis) {
  std::vector<int64_t> out(redis_figure::count, -1);
  // Summed over the masters, and only when every master answered: a sum
  // over some of them would make the evictions counter go down.
  auto memory = redis.on_masters({"INFO", "memory"});
  auto stats = redis.on_masters({"INFO", "stats"});
  int64_t up = 0;
  caf::error failed;
  std::vector<int64_t> sums(2, 0);
  for (std::size_t i = 0; i < memory.size() && i < stats.size(); ++i) {
    bool answered = true;
    for (auto [replies, field, at] : {std::tuple{&memory, "used_memory", 0},
                                      std::tuple{&stats, "evicted_keys", 1}}) {
      auto& r = (*replies)[i];
      if (!r || (*r)->type != REDIS_REPLY_STRING) {
        if (!failed)
          failed = r ? make_error(ec::redis_error, "INFO answered with no text") : r.error();
        answered = false;
        continue;
      }
      auto value = resp::info_field(std::string_view((*r)->str, (*r)->len), field);
      if (value.empty() || sums[at] < 0)
        sums[at] = -1;
      else
        sums[at] += std::strtoll(value.c_str(), nullptr, 10);
    }
    up += answered ? 1 : 0;
  }
  if (up == 0)
    return failed ? failed : make_error(ec::redis_unavailable, "no master answered");
  if (up == static_cast<int64_t>(memory.size())) {
    out[redis_figure::used_memory] = sums[0];
    out[redis_figure::evicted_keys] = sums[1];
  }
  if (!redis.cluster())
    return out;
  out[redis_figure::cluster_masters] = static_cast<int64_t>(redis.masters().size());
  out[redis_figure::cluster_masters_up] = up;
  auto r = redis.command({"CLUSTER", "INFO"});
  if (r && (*r)->type == REDIS_REPLY_STRING) {
    std::string_view text((*r)->str, (*r)->len);
    out[redis_figure::cluster_ok] = resp::info_field(text, "cluster_state") == "ok" ? 1 : 0;
    for (auto [field, figure] : {std::pair{"cluster_slots_ok", redis_figure::cluster_slots_ok},
                                 std::pair{"cluster_known_nodes", redis_figure::cluster_known_nodes}}) {
      auto value = resp::info_field(text, field);
      if (!value.empty())
        out[figure] = std::strtoll(value.c_str(), nullptr, 10);
    }
  }
  return out;
}

}  // namespace wtcache
