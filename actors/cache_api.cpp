// The embedding API's actor: typed requests into shard requests.
#include "actors/cache_api.hpp"

#include <algorithm>
#include <limits>

#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include "core/deadline.hpp"
#include "messages/atoms.hpp"
#include "messages/errors.hpp"

namespace wtcache {

using self_ptr = cache_actor::stateful_pointer<cache_api_state>;

cache_api_settings cache_api_settings_from(const config& cfg) {
  cache_api_settings s;
  s.limits.max_value_bytes = cfg.max_value_bytes;
  s.limits.allow_flush = cfg.allow_flush;
  s.request_timeout = cfg.request_timeout;
  return s;
}

namespace {

// One request from its arrival to its answer: counted in flight (the actor
// stops only when none is), and in the command's figures.
class ticket {
public:
  ticket(self_ptr self, const char* command)
    : self_(self),
      figures_(self->state.cfg.metrics ? &self->state.cfg.metrics->command(command) : nullptr),
      started_(std::chrono::steady_clock::now()) {
    ++self->state.in_flight;
    if (self->state.cfg.metrics)
      self->state.cfg.metrics->commands.fetch_add(1, std::memory_order_relaxed);
  }

  void done(bool failed) const {
    if (figures_) {
      figures_->calls.fetch_add(1, std::memory_order_relaxed);
      if (failed)
        figures_->errors.fetch_add(1, std::memory_order_relaxed);
      figures_->latency.observe(std::chrono::steady_clock::now() - started_);
    }
    auto& st = self_->state;
    if (--st.in_flight == 0 && st.stopping)
      self_->quit(caf::exit_reason::user_shutdown);
  }

private:
  self_ptr self_;
  command_metrics* figures_;
  std::chrono::steady_clock::time_point started_;
};

const shard_actor& shard_for(self_ptr self, const std::string& key) {
  const auto& shards = self->state.cfg.shards;
  return shards[shard_of(key, shards.size())];
}

// A shard's failure as the caller sees it. A read changed nothing; a write
// whose shard did not answer in time may have applied.
caf::error read_failure(const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return make_error(ec::timeout, "no answer within request_timeout");
  if (err == caf::sec::request_receiver_down)
    return make_error(ec::stopped, "the shard has stopped");
  return err;
}

caf::error write_failure(const caf::error& err) {
  if (err == caf::sec::request_timeout)
    return make_error(ec::outcome_unknown, "no answer within request_timeout");
  return read_failure(err);
}

// A request refused before it went anywhere: counted as RESP counts an
// error reply (a ticket that ends at once; the actor is never stopping
// with nothing in flight here, since it quits at that moment).
caf::error refused_here(self_ptr self, const char* command, caf::error err) {
  ticket{self, command}.done(true);
  return err;
}

caf::error refused(self_ptr self, const char* command, const std::string& text) {
  return refused_here(self, command, make_error(ec::client_error, text));
}

// Nothing is sent once the service stops (or if it has no shards).
bool stopping(self_ptr self) {
  return self->state.stopping || self->state.cfg.shards.empty();
}

caf::error stopped(self_ptr self, const char* command) {
  return refused_here(self, command, make_error(ec::stopped, "the service is stopping"));
}

// As RESP's MULTI queue: a transaction or DEL of more keys is refused.
constexpr std::size_t max_keys_per_request = 10000;

// A key as RESP would take it: no longer than a bulk string may be, and
// one its namespace's key column can store.
std::string check_api_key(const std::string& key, const namespace_table& spaces,
                          const command_limits& limits) {
  if (key.size() > limits.max_value_bytes)
    return oversized_error(key.size(), limits.max_value_bytes);
  return check_key(key, spaces);
}

// SET's key_write from its options; empty error text when they are valid.
std::string set_write(key_write& w, const set_options& o) {
  w.kind = op_kind::set;
  if (o.when == set_options::if_absent)
    w.flags |= op_flag::nx;
  else if (o.when == set_options::if_present)
    w.flags |= op_flag::xx;
  else if (o.when != set_options::always)
    return "ERR syntax error";
  if (o.get_old)
    w.flags |= op_flag::get;
  if (o.keep_ttl && o.ttl_ms != 0)
    return "ERR syntax error";
  if (o.ttl_ms != 0) {
    if (auto e = check_relative_expiry(o.ttl_ms, "set"); !e.empty())
      return e;
    w.expiry = expiry_change::in;
    w.expiry_ms = o.ttl_ms;
  } else {
    w.expiry = o.keep_ttl ? expiry_change::keep : expiry_change::clear;
  }
  return {};
}

// PEXPIRE's key_write: ms <= 0 deletes the key.
std::string expire_write(key_write& w, int64_t ms) {
  w.kind = op_kind::expire;
  if (ms > 0)
    if (auto e = check_relative_expiry(ms, "pexpire"); !e.empty())
      return e;
  if (ms < 0 && ms < std::numeric_limits<int64_t>::min() + unix_now_ms())
    return "ERR invalid expire time in 'pexpire' command";
  w.expiry = expiry_change::in;
  w.expiry_ms = ms;
  return {};
}

// An op (a transaction's, or a lone SET, INCRBY, PEXPIRE) as the write it
// is, checked as the RESP command is; empty error text when valid.
std::string write_of(key_write& w, txn_op& op, const namespace_table& spaces,
                     const command_limits& limits) {
  w.key = std::move(op.key);
  if (auto e = check_api_key(w.key, spaces, limits); !e.empty())
    return e;
  switch (op.kind) {
    case txn_op::set:
      if (auto e = check_value(w.key, op.value, spaces, limits); !e.empty())
        return e;
      w.value = std::move(op.value);
      return set_write(w, op.options);
    case txn_op::del:
      w.kind = op_kind::del;
      return {};
    case txn_op::incrby:
      w.kind = op_kind::incr;
      w.delta = op.number;
      w.expiry = expiry_change::keep;
      return {};
    case txn_op::expire:
      return expire_write(w, op.number);
    default:
      return "ERR unknown transaction op " + std::to_string(op.kind);
  }
}

// Sends a command's writes to the shard of its first key (which commits
// them with the other shards' keys when they span several), and answers
// with `make(answers)`.
template <class T, class Make>
caf::result<T> put(self_ptr self, const char* command, write_request req, Make make) {
  if (req.writes.size() > 1 && mixes_modes(req, *self->state.cfg.spaces))
    return refused(self, command, "ERR " + std::string(command) +
                                    " mixes write-through and write-behind keys; send them "
                                    "separately");
  auto rp = self->make_response_promise<T>();
  ticket t{self, command};
  const auto& lead = shard_for(self, req.writes.front().key);
  self->request(lead, self->state.cfg.request_timeout, atom::put::value, std::move(req))
    .then(
      [=](std::vector<write_answer>& answers) mutable {
        t.done(false);
        rp.deliver(make(answers));
      },
      [=](caf::error& err) mutable {
        t.done(true);
        rp.deliver(write_failure(err));
      });
  return rp;
}

// A lone write: `op` checked and sent as a request of its own.
template <class T, class Make>
caf::result<T> put_one(self_ptr self, const char* command, txn_op op, Make make) {
  if (stopping(self))
    return stopped(self, command);
  key_write w;
  if (auto e = write_of(w, op, *self->state.cfg.spaces, self->state.cfg.limits); !e.empty())
    return refused(self, command, e);
  write_request req;
  req.writes.push_back(std::move(w));
  return put<T>(self, command, std::move(req), make);
}

// One key's lookup (atom::get or, with `with_expiry`, atom::ttl), answered
// with `make(lookup)`.
template <class T, class Make>
caf::result<T> look(self_ptr self, const char* command, std::string key, bool with_expiry,
                    Make make) {
  if (auto e = check_api_key(key, *self->state.cfg.spaces, self->state.cfg.limits); !e.empty())
    return refused(self, command, e);
  auto rp = self->make_response_promise<T>();
  ticket t{self, command};
  auto on_value = [=](lookup& v) mutable {
    t.done(false);
    rp.deliver(make(v));
  };
  auto on_error = [=](caf::error& err) mutable {
    t.done(true);
    rp.deliver(read_failure(err));
  };
  const auto& shard = shard_for(self, key);
  auto timeout = self->state.cfg.request_timeout;
  if (with_expiry)
    self->request(shard, timeout, atom::ttl::value, std::move(key)).then(on_value, on_error);
  else
    self->request(shard, timeout, atom::get::value, std::move(key), false, int64_t{0})
      .then(on_value, on_error);
  return rp;
}

cache_value value_of(lookup& v) { return cache_value{v.found, std::move(v.value)}; }

// MGET's lookups: at most `window` in flight (as a connection keeps), the
// answer once the last is in; the first failure is the answer.
struct mget_gather {
  std::vector<std::string> keys;
  std::vector<cache_value> values;
  std::size_t next = 0;  // the next key to send
  std::size_t left = 0;  // answers still missing
  caf::error failure;
};

constexpr std::size_t mget_window = 256;

void send_lookups(self_ptr self, std::shared_ptr<mget_gather> g,
                  caf::typed_response_promise<std::vector<cache_value>> rp, ticket t) {
  auto& st = self->state;
  while (g->next < g->keys.size() && g->next - (g->keys.size() - g->left) < mget_window) {
    auto i = g->next++;
    auto answered = [=]() mutable {
      if (--g->left == 0) {
        t.done(bool(g->failure));
        if (g->failure)
          rp.deliver(std::move(g->failure));
        else
          rp.deliver(std::move(g->values));
      } else if (!g->failure) {
        send_lookups(self, g, rp, t);
      }
    };
    self->request(shard_for(self, g->keys[i]), st.cfg.request_timeout, atom::get::value,
                  g->keys[i], false, int64_t{0})
      .then(
        [=](lookup& v) mutable {
          g->values[i] = value_of(v);
          answered();
        },
        [=](caf::error& err) mutable {
          if (!g->failure) {
            g->failure = read_failure(err);
            // The keys not sent yet count as answered: none goes out now.
            g->left -= g->keys.size() - g->next;
            g->next = g->keys.size();
          }
          answered();
        });
  }
}

}  // namespace

cache_actor::behavior_type cache_api(cache_actor::stateful_pointer<cache_api_state> self,
                                     cache_api_settings cfg) {
  self->state.cfg = std::move(cfg);
  // Stop taking requests; exit once those in flight are answered.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.stopping = true;
    if (self->state.in_flight == 0)
      self->quit(msg.reason);
  });
  return {
    [self](atom::get, std::string& key) -> caf::result<cache_value> {
      if (stopping(self))
        return stopped(self, "get");
      return look<cache_value>(self, "get", std::move(key), false, value_of);
    },
    [self](atom::get, std::vector<std::string>& keys) -> caf::result<std::vector<cache_value>> {
      auto& st = self->state;
      if (stopping(self))
        return stopped(self, "mget");
      for (auto& k : keys)
        if (auto e = check_api_key(k, *st.cfg.spaces, st.cfg.limits); !e.empty())
          return refused(self, "mget", e);
      if (keys.empty())
        return std::vector<cache_value>{};
      auto g = std::make_shared<mget_gather>();
      g->values.resize(keys.size());
      g->left = keys.size();
      g->keys = std::move(keys);
      auto rp = self->make_response_promise<std::vector<cache_value>>();
      send_lookups(self, g, rp, ticket{self, "mget"});
      return rp;
    },
    [self](atom::put, std::string& key, std::string& value,
           const set_options& options) -> caf::result<set_result> {
      txn_op op{txn_op::set, std::move(key), std::move(value), 0, options};
      return put_one<set_result>(self, "set", std::move(op), [](std::vector<write_answer>& a) {
        if (a.empty())
          return set_result{};
        return set_result{a[0].applied, cache_value{a[0].found, std::move(a[0].bulk)},
                          a[0].number};
      });
    },
    [self](atom::del, std::vector<std::string>& keys) -> caf::result<int64_t> {
      auto& st = self->state;
      if (stopping(self))
        return stopped(self, "del");
      if (keys.size() > max_keys_per_request)
        return refused(self, "del", "ERR DEL of more than " +
                                      std::to_string(max_keys_per_request) +
                                      " keys in one request; split it");
      write_request req;
      for (auto& k : keys) {
        if (auto e = check_api_key(k, *st.cfg.spaces, st.cfg.limits); !e.empty())
          return refused(self, "del", e);
        key_write w;
        w.kind = op_kind::del;
        w.key = std::move(k);
        req.writes.push_back(std::move(w));
      }
      if (req.writes.empty())
        return int64_t{0};
      return put<int64_t>(self, "del", std::move(req), [](std::vector<write_answer>& a) {
        int64_t n = 0;
        for (auto& x : a)
          n += x.number;
        return n;
      });
    },
    [self](atom::incr, std::string& key, int64_t delta) -> caf::result<int64_t> {
      txn_op op{txn_op::incrby, std::move(key), {}, delta, {}};
      return put_one<int64_t>(self, "incrby", std::move(op), [](std::vector<write_answer>& a) {
        return a.empty() ? int64_t{0} : a[0].number;
      });
    },
    [self](atom::expire, std::string& key, int64_t ms) -> caf::result<bool> {
      txn_op op{txn_op::expire, std::move(key), {}, ms, {}};
      return put_one<bool>(self, "pexpire", std::move(op), [](std::vector<write_answer>& a) {
        return !a.empty() && a[0].applied;
      });
    },
    [self](atom::ttl, std::string& key) -> caf::result<int64_t> {
      auto& st = self->state;
      if (stopping(self))
        return stopped(self, "pttl");
      const auto& ns = st.cfg.spaces->at(st.cfg.spaces->resolve(key).index);
      // expiry = "cache": a value never expires, whatever its cache copy's TTL.
      bool by_value = ns.expiry == expiry_mode::value;
      return look<int64_t>(self, "pttl", std::move(key), by_value, [by_value](lookup& v) {
        if (!v.found)
          return int64_t{-2};
        if (!by_value || v.expires_ms < 0)
          return int64_t{-1};
        return std::max<int64_t>(v.expires_ms - v.now_ms, 0);
      });
    },
    [self](atom::exec, std::vector<txn_op>& ops) -> caf::result<std::vector<txn_result>> {
      auto& st = self->state;
      if (stopping(self))
        return stopped(self, "exec");
      if (ops.empty())
        return std::vector<txn_result>{};
      if (ops.size() > max_keys_per_request)
        return refused(self, "exec", "ERR a transaction of more than " +
                                       std::to_string(max_keys_per_request) +
                                       " writes; split it");
      write_request req;
      req.transaction = true;
      std::vector<uint8_t> kinds;
      for (std::size_t i = 0; i < ops.size(); ++i) {
        key_write w;
        w.part = static_cast<uint32_t>(i + 1);
        if (auto e = write_of(w, ops[i], *st.cfg.spaces, st.cfg.limits); !e.empty())
          return refused(self, "exec",
                         e + " (transaction op " + std::to_string(i) + "; nothing was applied)");
        kinds.push_back(ops[i].kind);
        req.writes.push_back(std::move(w));
      }
      return put<std::vector<txn_result>>(
        self, "exec", std::move(req), [kinds](std::vector<write_answer>& a) {
          std::vector<txn_result> out(kinds.size());
          for (std::size_t i = 0; i < kinds.size() && i < a.size(); ++i) {
            auto& r = out[i];
            r.error = std::move(a[i].error);
            r.number = a[i].number;
            r.applied = r.error.empty() &&
                        (kinds[i] == txn_op::del ? a[i].number > 0 : a[i].applied);
            r.old = cache_value{a[i].found, std::move(a[i].bulk)};
          }
          return out;
        });
    },
  };
}

}  // namespace wtcache
