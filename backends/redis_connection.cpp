// One blocking hiredis connection with the one script loader.
#include "backends/redis_connection.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <hiredis/hiredis.h>

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

void append_argv(redisContext* ctx, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data());
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

redis_connection::redis_connection(redis_endpoint endpoint, std::chrono::milliseconds timeout)
  : endpoint_(std::move(endpoint)), timeout_(timeout) {}

redis_connection::~redis_connection() { disconnect(); }

redis_connection::redis_connection(redis_connection&& other) noexcept
  : endpoint_(std::move(other.endpoint_)), timeout_(other.timeout_), ctx_(other.ctx_),
    shas_(std::move(other.shas_)) {
  other.ctx_ = nullptr;
}

redis_connection& redis_connection::operator=(redis_connection&& other) noexcept {
  if (this != &other) {
    disconnect();
    endpoint_ = std::move(other.endpoint_);
    timeout_ = other.timeout_;
    ctx_ = other.ctx_;
    shas_ = std::move(other.shas_);
    other.ctx_ = nullptr;
  }
  return *this;
}

void redis_connection::disconnect() {
  if (ctx_) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

caf::error redis_connection::connect() {
  if (ctx_)
    return caf::none;
  caf::error err;
  ctx_ = open(endpoint_, timeout_, err);
  if (!ctx_)
    return err;
  // A connection that cannot run the scripts is of no use: refused.
  for (std::size_t i = 0; i < redis_script_count; ++i)
    if (auto err = reload(static_cast<redis_script>(i))) {
      if (ctx_)
        err = make_error(ec::redis_unavailable, error_detail(err));
      disconnect();
      return err;
    }
  return caf::none;
}

caf::error redis_connection::reload(redis_script s) {
  if (!ctx_)
    return make_error(ec::redis_unavailable, "not connected");
  auto r = run(ctx_, {"SCRIPT", "LOAD", script_source(s)});
  if (!r) {
    auto err = setup_failed(ctx_, r, "SCRIPT LOAD");
    disconnect();
    return err;
  }
  if (r->type != REDIS_REPLY_STRING)
    return make_error(ec::redis_error, "SCRIPT LOAD: " + reply_text(r.get()));
  shas_[static_cast<std::size_t>(s)].assign(r->str, r->len);
  return caf::none;
}

void redis_connection::append(const std::vector<std::string>& args) { append_argv(ctx_, args); }

void redis_connection::append(std::size_t argc, const char* const* argv, const std::size_t* lens) {
  redisAppendCommandArgv(ctx_, static_cast<int>(argc), const_cast<const char**>(argv), lens);
}

caf::error redis_connection::next_reply(redis_reply& out) {
  void* raw = nullptr;
  if (!ctx_ || redisGetReply(ctx_, &raw) != REDIS_OK) {
    std::string why = ctx_ ? ctx_->errstr : "not connected";
    disconnect();
    return make_error(ec::redis_unavailable, why);
  }
  out.reset(static_cast<redisReply*>(raw));
  return caf::none;
}

caf::error redis_connection::send() {
  int done = 0;
  while (ctx_ && !done) {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) {
      std::string why = ctx_->errstr;
      disconnect();
      return make_error(ec::redis_unavailable, why);
    }
  }
  if (!ctx_)
    return make_error(ec::redis_unavailable, "not connected");
  return caf::none;
}

caf::expected<redis_reply> redis_connection::command(const std::vector<std::string>& args,
                                                     bool* sent) {
  if (sent)
    *sent = false;
  if (auto err = connect())
    return err;
  append(args);
  if (sent)
    *sent = true;
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

caf::expected<int> redis_connection::open_socket() const {
  caf::error err;
  auto* c = open(endpoint_, timeout_, err);
  if (!c)
    return err;
  // The multiplexer that takes it over never blocks on it.
  int fd = redisFreeKeepFd(c);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace wtcache
