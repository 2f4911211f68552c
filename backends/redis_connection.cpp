// One blocking hiredis connection with the one script loader.
#include "backends/redis_connection.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <thread>

#include "core/key_layout.hpp"
#include "messages/errors.hpp"

namespace wtcache {

void block_sigpipe_on_this_thread() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

sigpipe_blocked::sigpipe_blocked() {
  sigset_t pipe, before;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &before);
  was_blocked_ = sigismember(&before, SIGPIPE) == 1;
}

sigpipe_blocked::~sigpipe_blocked() {
  if (was_blocked_)
    return;
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  // A SIGPIPE our write raised meanwhile is pending on this thread: take
  // it, so that unblocking does not deliver it to the host.
  sigset_t pending;
  if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
    timespec zero{0, 0};
    sigtimedwait(&pipe, nullptr, &zero);
  }
  pthread_sigmask(SIG_UNBLOCK, &pipe, nullptr);
}

void redis_reply_deleter::operator()(redisReply* r) const {
  if (r)
    freeReplyObject(r);
}

std::string reply_text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ERROR ||
               r->type == REDIS_REPLY_STATUS)
           ? std::string(r->str, r->len)
           : std::string();
}

bool is_error_code(const redisReply* r, std::string_view code) {
  return r && r->type == REDIS_REPLY_ERROR &&
         std::string_view(r->str, r->len).substr(0, code.size()) == code;
}

namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

// A command's arguments as hiredis takes them (pointers into `args`).
struct argv_of {
  explicit argv_of(const std::vector<std::string>& args) {
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
};

void append_argv(redisContext* ctx, const std::vector<std::string>& args) {
  argv_of a(args);
  redisAppendCommandArgv(ctx, static_cast<int>(a.argv.size()), a.argv.data(), a.lens.data());
}

// One command and its reply on a connection being set up; null when the
// connection failed.
redis_reply run(redisContext* ctx, const std::vector<std::string>& args) {
  append_argv(ctx, args);
  void* raw = nullptr;
  if (redisGetReply(ctx, &raw) != REDIS_OK)
    return nullptr;
  return redis_reply(static_cast<redisReply*>(raw));
}

caf::error setup_failed(redisContext* ctx, const redis_reply& r, const char* what) {
  auto why = !r ? std::string(ctx->errstr) : std::string(what) + ": " + reply_text(r.get());
  return make_error(ec::redis_unavailable, why);
}

// A new connection with AUTH and SELECT done; null and `err` on failure.
redisContext* open(const redis_endpoint& ep, std::chrono::milliseconds timeout, caf::error& err) {
  auto* ctx = redisConnectWithTimeout(ep.host.c_str(), ep.port, to_timeval(timeout));
  if (!ctx || ctx->err) {
    err = make_error(ec::redis_unavailable, ctx ? ctx->errstr : "out of memory");
    if (ctx)
      redisFree(ctx);
    return nullptr;
  }
  redisSetTimeout(ctx, to_timeval(timeout));
  auto refused = [](const redis_reply& r) { return !r || r->type == REDIS_REPLY_ERROR; };
  if (!ep.password.empty()) {
    auto r = ep.user.empty() ? run(ctx, {"AUTH", ep.password})
                             : run(ctx, {"AUTH", ep.user, ep.password});
    if (refused(r))
      err = setup_failed(ctx, r, "AUTH");
  }
  if (!err && ep.db != 0) {
    auto r = run(ctx, {"SELECT", std::to_string(ep.db)});
    if (refused(r))
      err = setup_failed(ctx, r, "SELECT");
  }
  if (err) {
    redisFree(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

namespace {

constexpr uint16_t no_node = 0xFFFF;

bool same_word(std::string_view a, const char* b) {
  std::size_t i = 0;
  for (; i < a.size() && b[i]; ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != b[i])
      return false;
  return i == a.size() && !b[i];
}

// The key whose slot decides where a command goes (none: any node will do).
std::optional<std::string_view> routing_key(std::size_t argc, const char* const* argv,
                                            const std::size_t* lens) {
  auto word = [&](std::size_t i) { return std::string_view(argv[i], lens[i]); };
  if (argc < 2)
    return std::nullopt;
  auto cmd = word(0);
  if (same_word(cmd, "EVALSHA") || same_word(cmd, "EVAL"))
    return argc > 3 && word(2) != "0" ? std::optional<std::string_view>(word(3)) : std::nullopt;
  if (same_word(cmd, "XREADGROUP") || same_word(cmd, "XREAD")) {
    for (std::size_t i = 1; i + 1 < argc; ++i)
      if (same_word(word(i), "STREAMS"))
        return word(i + 1);
    return std::nullopt;
  }
  if (same_word(cmd, "XGROUP"))
    return argc > 2 ? std::optional<std::string_view>(word(2)) : std::nullopt;
  for (const char* keyless : {"INFO", "TIME", "PING", "SCRIPT", "CLUSTER", "ASKING", "CLIENT",
                              "AUTH", "SELECT", "CONFIG", "DBSIZE", "HELLO"})
    if (same_word(cmd, keyless))
      return std::nullopt;
  return word(1);
}

// "MOVED 3999 127.0.0.1:6381" / "ASK ...": the slot and the node.
bool parse_redirect(std::string_view text, long& slot, std::string& host, uint16_t& port) {
  auto sp1 = text.find(' ');
  auto sp2 = text.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos)
    return false;
  auto where = text.substr(sp2 + 1);
  auto colon = where.rfind(':');
  if (colon == std::string_view::npos)
    return false;
  slot = std::strtol(std::string(text.substr(sp1 + 1, sp2 - sp1 - 1)).c_str(), nullptr, 10);
  host = std::string(where.substr(0, colon));
  auto p = std::strtol(std::string(where.substr(colon + 1)).c_str(), nullptr, 10);
  if (slot < 0 || slot >= 16384 || p <= 0 || p > 65535)
    return false;
  port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace

redis_connection::redis_connection(redis_endpoint endpoint, std::chrono::milliseconds timeout)
  : endpoint_(std::move(endpoint)), timeout_(timeout) {}

redis_connection::~redis_connection() { disconnect(); }

redis_connection::redis_connection(redis_connection&& other) noexcept
  : endpoint_(std::move(other.endpoint_)), timeout_(other.timeout_),
    nodes_(std::move(other.nodes_)), slot_node_(std::move(other.slot_node_)),
    in_flight_(std::move(other.in_flight_)), ready_(std::move(other.ready_)),
    shas_(std::move(other.shas_)), redirections_sink_(other.redirections_sink_),
    map_loads_sink_(other.map_loads_sink_), map_doubted_(other.map_doubted_),
    map_read_at_(other.map_read_at_) {
  other.nodes_.clear();
}

redis_connection& redis_connection::operator=(redis_connection&& other) noexcept {
  if (this != &other) {
    disconnect();
    endpoint_ = std::move(other.endpoint_);
    timeout_ = other.timeout_;
    nodes_ = std::move(other.nodes_);
    slot_node_ = std::move(other.slot_node_);
    in_flight_ = std::move(other.in_flight_);
    ready_ = std::move(other.ready_);
    shas_ = std::move(other.shas_);
    redirections_sink_ = other.redirections_sink_;
    map_loads_sink_ = other.map_loads_sink_;
    map_doubted_ = other.map_doubted_;
    map_read_at_ = other.map_read_at_;
    other.nodes_.clear();
  }
  return *this;
}

bool redis_connection::connected() const {
  if (cluster() && slot_node_.empty())
    return false;
  for (auto& n : nodes_)
    if (n.ctx)
      return true;
  return false;
}

void redis_connection::drop_node(std::size_t i) {
  if (i < nodes_.size() && nodes_[i].ctx) {
    redisFree(nodes_[i].ctx);
    nodes_[i].ctx = nullptr;
    map_doubted_ = cluster();
  }
}

void redis_connection::disconnect() {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    drop_node(i);
  in_flight_.clear();
  ready_.clear();
  slot_node_.clear();  // the next connect asks for the slot map again
}

caf::error redis_connection::load_scripts(std::size_t i) {
  for (std::size_t k = 0; k < redis_script_count; ++k) {
    auto s = static_cast<redis_script>(k);
    auto r = run(nodes_[i].ctx, {"SCRIPT", "LOAD", script_source(s)});
    if (!r) {
      auto err = setup_failed(nodes_[i].ctx, r, "SCRIPT LOAD");
      drop_node(i);
      return err;
    }
    if (r->type != REDIS_REPLY_STRING) {
      // A connection that cannot run the scripts is of no use: refused.
      auto err = make_error(ec::redis_unavailable, "SCRIPT LOAD: " + reply_text(r.get()));
      drop_node(i);
      return err;
    }
    shas_[k].assign(r->str, r->len);
  }
  return caf::none;
}

caf::error redis_connection::open_node(std::size_t i) {
  if (i >= nodes_.size())
    return make_error(ec::redis_unavailable, "no node serves the slot");
  if (nodes_[i].ctx)
    return caf::none;
  // A node that could not be reached is not tried again for a while (at
  // least a connect's timeout, so that a host that does not answer costs
  // one timeout per pause, not one per command).
  auto pause = std::max<std::chrono::steady_clock::duration>(retry_pause, timeout_);
  if (cluster() && nodes_[i].failure &&
      std::chrono::steady_clock::now() - nodes_[i].failed_at < pause) {
    map_doubted_ = true;
    return nodes_[i].failure;
  }
  auto ep = endpoint_;
  ep.host = nodes_[i].host;
  ep.port = nodes_[i].port;
  caf::error err;
  nodes_[i].ctx = open(ep, timeout_, err);
  if (!nodes_[i].ctx) {
    map_doubted_ = cluster();
    nodes_[i].failed_at = std::chrono::steady_clock::now();
    nodes_[i].failure = err;
    return err;
  }
  nodes_[i].failure = caf::none;
  return load_scripts(i);
}

std::size_t redis_connection::node_at(const std::string& host, uint16_t port) {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].host == host && nodes_[i].port == port)
      return i;
  nodes_.emplace_back(host, port);
  return nodes_.size() - 1;
}

caf::error redis_connection::load_map() {
  // Ask the nodes known, then the seeds, until one answers.
  std::vector<std::pair<std::string, uint16_t>> ask;
  for (auto& n : nodes_)
    ask.emplace_back(n.host, n.port);
  for (auto& s : endpoint_.seeds)
    ask.push_back(s);
  caf::error last = make_error(ec::redis_unavailable, "no seed node of the cluster answered");
  for (auto& [host, port] : ask) {
    auto i = node_at(host, port);
    caf::error err;
    redisContext* ctx = nodes_[i].ctx;
    bool temporary = false;
    if (!ctx) {
      auto ep = endpoint_;
      ep.host = host;
      ep.port = port;
      ctx = open(ep, timeout_, err);
      temporary = true;
      if (!ctx) {
        last = err;
        continue;
      }
    }
    auto r = run(ctx, {"CLUSTER", "SLOTS"});
    std::string seed_host = host;
    if (temporary)
      redisFree(ctx);
    else if (!r)
      drop_node(i);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      last = make_error(ec::redis_unavailable,
                        "CLUSTER SLOTS on " + host + ":" + std::to_string(port) + ": " +
                          (r ? reply_text(r.get()) : std::string("no answer")));
      continue;
    }
    std::vector<uint16_t> map(cluster_slots, no_node);
    for (std::size_t k = 0; k < r->elements; ++k) {
      auto* range = r->element[k];
      if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
          range->element[2]->type != REDIS_REPLY_ARRAY || range->element[2]->elements < 2)
        continue;
      auto* master = range->element[2];
      auto mhost = reply_text(master->element[0]);
      if (mhost.empty() || mhost == "?")
        mhost = seed_host;
      auto mport = static_cast<uint16_t>(master->element[1]->integer);
      auto n = static_cast<uint16_t>(node_at(mhost, mport));
      for (auto slot = range->element[0]->integer; slot <= range->element[1]->integer; ++slot)
        if (slot >= 0 && slot < static_cast<long long>(cluster_slots))
          map[static_cast<std::size_t>(slot)] = n;
    }
    slot_node_ = std::move(map);
    map_doubted_ = false;
    map_loaded();
    // Connect every master now (one that cannot be reached is tried again
    // when a command goes to it).
    for (auto n : master_nodes())
      open_node(n);
    return caf::none;
  }
  return last;
}

void redis_connection::redirected_once() {
  if (redirections_sink_)
    redirections_sink_->fetch_add(1, std::memory_order_relaxed);
}

void redis_connection::map_loaded() {
  if (map_loads_sink_)
    map_loads_sink_->fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::size_t> redis_connection::master_nodes() const {
  std::vector<bool> master(nodes_.size(), false);
  for (auto n : slot_node_)
    if (n != no_node && n < nodes_.size())
      master[n] = true;
  std::vector<std::size_t> out;
  for (std::size_t n = 0; n < master.size(); ++n)
    if (master[n])
      out.push_back(n);
  return out;
}

std::vector<std::string> redis_connection::masters() const {
  std::vector<std::string> out;
  for (auto n : master_nodes())
    out.push_back(nodes_[n].host + ":" + std::to_string(nodes_[n].port));
  return out;
}

std::vector<caf::expected<redis_reply>>
redis_connection::on_masters(const std::vector<std::string>& args) {
  std::vector<caf::expected<redis_reply>> out;
  if (auto err = connect()) {
    out.emplace_back(std::move(err));
    return out;
  }
  if (!cluster()) {
    out.push_back(run_on(0, args));
    return out;
  }
  for (auto n : master_nodes())
    out.push_back(run_on(n, args));
  return out;
}

caf::error redis_connection::connect() {
  if (!cluster()) {
    if (nodes_.empty())
      nodes_.emplace_back(endpoint_.host, endpoint_.port);
    return open_node(0);
  }
  if (!slot_node_.empty()) {
    // A node failed since the map was read: a replica may have taken over
    // its slots, which a dead master cannot say with a MOVED. Read again,
    // at most every map_recheck, and only between calls (a reply on its
    // way would be taken for CLUSTER SLOTS'); no answer keeps the map.
    if (map_doubted_ && in_flight_.empty() && ready_.empty()) {
      auto now = std::chrono::steady_clock::now();
      if (now - map_read_at_ >= map_recheck) {
        map_read_at_ = now;
        load_map();
      }
    }
    return caf::none;
  }
  map_read_at_ = std::chrono::steady_clock::now();
  return load_map();
}

caf::error redis_connection::reload(redis_script s) {
  bool any = false;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i].ctx)
      continue;
    auto r = run(nodes_[i].ctx, {"SCRIPT", "LOAD", script_source(s)});
    if (!r) {
      auto err = setup_failed(nodes_[i].ctx, r, "SCRIPT LOAD");
      drop_node(i);
      return err;
    }
    if (r->type != REDIS_REPLY_STRING)
      return make_error(ec::redis_error, "SCRIPT LOAD: " + reply_text(r.get()));
    shas_[static_cast<std::size_t>(s)].assign(r->str, r->len);
    any = true;
  }
  if (!any)
    return make_error(ec::redis_unavailable, "not connected");
  return caf::none;
}

std::size_t redis_connection::route(std::size_t argc, const char* const* argv,
                                    const std::size_t* lens) const {
  if (!cluster())
    return 0;
  if (slot_node_.empty())
    return no_node;
  if (auto key = routing_key(argc, argv, lens))
    return slot_node_[key_slot(*key)];
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].ctx)
      return i;
  return slot_node_.front();
}

void redis_connection::append_to(std::size_t node, std::size_t argc, const char* const* argv,
                                 const std::size_t* lens) {
  in_flight f;
  f.node = node;
  if (cluster())
    for (std::size_t i = 0; i < argc; ++i)
      f.args.emplace_back(argv[i], lens[i]);
  if (node == no_node || (!cluster() && node >= nodes_.size()) || open_node(node)) {
    f.failed = true;
  } else {
    redisAppendCommandArgv(nodes_[node].ctx, static_cast<int>(argc),
                           const_cast<const char**>(argv), lens);
  }
  in_flight_.push_back(std::move(f));
}

void redis_connection::append(const std::vector<std::string>& args) {
  argv_of a(args);
  append(a.argv.size(), a.argv.data(), a.lens.data());
}

void redis_connection::append(std::size_t argc, const char* const* argv, const std::size_t* lens) {
  append_to(route(argc, argv, lens), argc, argv, lens);
}

caf::error redis_connection::flush_all() {
  caf::error failure;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    int done = 0;
    while (nodes_[i].ctx && !done) {
      if (redisBufferWrite(nodes_[i].ctx, &done) != REDIS_OK) {
        failure = make_error(ec::redis_unavailable, nodes_[i].ctx->errstr);
        drop_node(i);
      }
    }
  }
  return failure;
}

caf::expected<redis_reply> redis_connection::run_on(std::size_t node,
                                                    const std::vector<std::string>& args) {
  if (auto err = open_node(node))
    return err;
  auto r = run(nodes_[node].ctx, args);
  if (!r) {
    auto err = make_error(ec::redis_unavailable, nodes_[node].ctx->errstr);
    drop_node(node);
    return err;
  }
  return r;
}

caf::expected<redis_reply> redis_connection::redirected(redis_reply reply,
                                                        const std::vector<std::string>& args) {
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (unsigned attempt = 0;; ++attempt) {
    if (reply->type != REDIS_REPLY_ERROR)
      return reply;
    std::string_view text(reply->str, reply->len);
    long slot = 0;
    std::string host;
    uint16_t port = 0;
    if (text.rfind("MOVED ", 0) == 0 && parse_redirect(text, slot, host, port)) {
      // The slot has moved for good: the map is out of date.
      redirected_once();
      if (load_map() || slot_node_[static_cast<std::size_t>(slot)] == no_node)
        slot_node_[static_cast<std::size_t>(slot)] = static_cast<uint16_t>(node_at(host, port));
      auto r = run_on(slot_node_[static_cast<std::size_t>(slot)], args);
      if (!r)
        return r;
      reply = std::move(*r);
    } else if (text.rfind("ASK ", 0) == 0 && parse_redirect(text, slot, host, port)) {
      // The slot is being migrated and the key is on its way: this command
      // only, at the node that imports it.
      redirected_once();
      auto target = node_at(host, port);
      if (auto err = open_node(target))
        return err;
      auto* ctx = nodes_[target].ctx;
      append_argv(ctx, {"ASKING"});
      append_argv(ctx, args);
      void* asking = nullptr;
      void* raw = nullptr;
      if (redisGetReply(ctx, &asking) != REDIS_OK || redisGetReply(ctx, &raw) != REDIS_OK) {
        auto err = make_error(ec::redis_unavailable, ctx->errstr);
        if (asking)
          freeReplyObject(asking);
        drop_node(target);
        return err;
      }
      freeReplyObject(asking);
      reply.reset(static_cast<redisReply*>(raw));
    } else if (text.rfind("TRYAGAIN", 0) == 0 || text.rfind("CLUSTERDOWN", 0) == 0) {
      // A multi-key command while its slot migrates, or a cluster without
      // a master for a slot yet: again, a moment later, while time is left.
      auto pause = std::chrono::milliseconds(std::min(2u << std::min(attempt, 6u), 100u));
      if (std::chrono::steady_clock::now() + pause >= deadline)
        return reply;
      std::this_thread::sleep_for(pause);
      if (text.rfind("CLUSTERDOWN", 0) == 0)
        load_map();
      argv_of a(args);
      auto r = run_on(route(a.argv.size(), a.argv.data(), a.lens.data()), args);
      if (!r)
        return r;
      reply = std::move(*r);
    } else {
      return reply;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return reply;
  }
}

std::vector<redis_connection::outcome> redis_connection::collect(bool each) {
  flush_all();
  std::vector<outcome> out(in_flight_.size());
  bool failed = false;
  for (std::size_t k = 0; k < in_flight_.size(); ++k) {
    auto& f = in_flight_[k];
    auto& o = out[k];
    if (f.failed) {  // its node could not be reached: never sent
      o.error = make_error(ec::redis_unavailable, "could not reach the node");
      failed = true;
      continue;
    }
    o.sent = true;  // appended to a connection: it may have gone out
    if (f.node >= nodes_.size() || !nodes_[f.node].ctx) {
      o.error = make_error(ec::redis_unavailable, "connection lost");
      failed = true;
      continue;
    }
    void* raw = nullptr;
    if (redisGetReply(nodes_[f.node].ctx, &raw) != REDIS_OK) {
      o.error = make_error(ec::redis_unavailable, nodes_[f.node].ctx->errstr);
      failed = true;
      drop_node(f.node);
      continue;
    }
    o.reply.reset(static_cast<redisReply*>(raw));
  }
  // Every reply is in (a redirection may send commands of its own). For a
  // batch that failed as a whole, none is followed: it would run again a
  // command whose answer is then thrown away.
  if (cluster() && (each || !failed))
    for (std::size_t k = 0; k < out.size(); ++k)
      if (out[k].reply && out[k].reply->type == REDIS_REPLY_ERROR) {
        auto r = redirected(std::move(out[k].reply), in_flight_[k].args);
        if (r) {
          out[k].reply = std::move(*r);
        } else {
          out[k].error = std::move(r.error());
          failed = true;
        }
      }
  in_flight_.clear();
  if (failed && !cluster())
    disconnect();
  return out;
}

caf::error redis_connection::drain() {
  auto got = collect(false);
  for (auto& o : got)
    if (o.error) {
      ready_.clear();
      return o.error;
    }
  for (auto& o : got)
    ready_.push_back(std::move(o.reply));
  return caf::none;
}

caf::error redis_connection::next_reply(redis_reply& out) {
  if (ready_.empty()) {
    if (in_flight_.empty())
      return make_error(ec::redis_unavailable, "not connected");
    if (auto err = drain())
      return err;
  }
  out = std::move(ready_.front());
  ready_.pop_front();
  return caf::none;
}

caf::error redis_connection::send() {
  auto err = flush_all();
  if (!err && !connected())
    err = make_error(ec::redis_unavailable, "not connected");
  if (err) {
    // Whoever sent reads no answer now, so none may be left to be taken
    // for the next command's: a node with commands on their way is
    // dropped (one Redis: the connection) and the calls forgotten.
    if (!cluster()) {
      disconnect();
      return err;
    }
    for (auto& f : in_flight_)
      drop_node(f.node);
    in_flight_.clear();
    ready_.clear();
  }
  return err;
}

caf::expected<redis_reply> redis_connection::command(const std::vector<std::string>& args,
                                                     bool* sent) {
  if (sent)
    *sent = false;
  if (auto err = connect())
    return err;
  append(args);
  if (sent)
    *sent = !in_flight_.back().failed;
  redis_reply r;
  if (auto err = next_reply(r))
    return err;
  return r;
}

caf::expected<std::vector<redis_reply>>
redis_connection::pipeline(const std::vector<std::vector<std::string>>& cmds) {
  if (auto err = connect())
    return err;
  for (auto& c : cmds)
    append(c);
  std::vector<redis_reply> out(cmds.size());
  for (auto& r : out)
    if (auto err = next_reply(r))
      return err;
  return out;
}

std::vector<redis_connection::outcome>
redis_connection::pipeline_each(const std::vector<std::vector<std::string>>& cmds) {
  if (auto err = connect(); err || !in_flight_.empty() || !ready_.empty()) {
    if (!err)  // cannot happen: callers read what they sent
      err = make_error(ec::redis_error, "a pipeline while replies are on their way");
    std::vector<outcome> out(cmds.size());
    for (auto& o : out)
      o.error = err;
    return out;
  }
  for (auto& c : cmds)
    append(c);
  return collect(true);
}

std::vector<std::string> redis_connection::evalsha(redis_script s,
                                                   const std::vector<std::string>& keys,
                                                   const std::vector<std::string>& args) const {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(sha(s));
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

caf::expected<redis_reply> redis_connection::eval(redis_script s,
                                                  const std::vector<std::string>& keys,
                                                  const std::vector<std::string>& args,
                                                  bool* sent) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto err = connect())
      return err;
    auto r = command(evalsha(s, keys, args), sent);
    if (!r || !is_error_code(r->get(), "NOSCRIPT"))
      return r;
    // The script cache was flushed (SCRIPT FLUSH, a restart): load it again.
    if (auto err = reload(s))
      return err;
  }
  return make_error(ec::redis_error, "the script cache keeps being flushed");
}

caf::expected<redis_connection::sockets> redis_connection::open_sockets() {
  sockets out;
  auto close_all = [&] {
    for (int fd : out.fds)
      ::close(fd);
  };
  auto open_one = [&](const redis_endpoint& ep) -> caf::error {
    caf::error err;
    auto* c = open(ep, timeout_, err);
    if (!c)
      return err;
    // The multiplexer that takes it over never blocks on it.
    int fd = redisFreeKeepFd(c);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    out.fds.push_back(fd);
    return caf::none;
  };
  if (!cluster()) {
    if (auto err = open_one(endpoint_))
      return err;
    return out;
  }
  if (auto err = connect())
    return err;
  // The map as the cluster says now: the reader asks after a MOVED, which
  // this connection may not have met yet.
  if (in_flight_.empty() && ready_.empty())
    if (auto err = load_map())
      return err;
  std::vector<uint16_t> socket_of(nodes_.size(), sockets::no_socket);
  for (auto n : master_nodes()) {
    auto ep = endpoint_;
    ep.host = nodes_[n].host;
    ep.port = nodes_[n].port;
    if (auto err = open_one(ep)) {
      close_all();
      return err;
    }
    socket_of[n] = static_cast<uint16_t>(out.fds.size() - 1);
  }
  out.slot_socket.assign(slot_node_.size(), sockets::no_socket);
  for (std::size_t slot = 0; slot < slot_node_.size(); ++slot)
    if (slot_node_[slot] != no_node)
      out.slot_socket[slot] = socket_of[slot_node_[slot]];
  return out;
}

}  // namespace wtcache
