// One blocking hiredis connection to Redis, as a worker actor owns it:
// connect (AUTH, SELECT, then the scripts are loaded), commands pipelined
// as argv with their replies read in order, and the one loader of the Lua
// scripts (backends/scripts.hpp), which loads a script again when Redis
// answers NOSCRIPT (SCRIPT FLUSH, a restart). Every call blocks for at most
// the timeout; a lost connection is dropped and opened again by the next
// call. Not thread-safe: one owner.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/endpoints.hpp"
#include "backends/scripts.hpp"

struct redisContext;
struct redisReply;

namespace wtcache {

struct redis_reply_deleter {
  void operator()(redisReply* r) const;
};
// One reply as hiredis parsed it.
using redis_reply = std::unique_ptr<redisReply, redis_reply_deleter>;

// The text of a string, status or error reply; empty for any other.
std::string reply_text(const redisReply* r);
// The reply is an error that starts with `code` (NOSCRIPT, NOGROUP...).
bool is_error_code(const redisReply* r, std::string_view code);

// hiredis 0.14 writes with write(2), which raises SIGPIPE when Redis has
// closed the connection, and a host program embedding wtcache may not
// ignore SIGPIPE. The threads that drive hiredis block it for themselves:
// the write then fails with EPIPE. Call at the start of such a thread (a
// detached worker's behaviour runs on its own thread); a SIGPIPE that
// stays pending on it is discarded with the thread.
void block_sigpipe_on_this_thread();

// The same for a while, on a thread that is not ours (service::start's
// check of Redis runs on the host's): restores the mask when it goes,
// discarding a SIGPIPE raised meanwhile.
class sigpipe_blocked {
public:
  sigpipe_blocked();
  ~sigpipe_blocked();
  sigpipe_blocked(const sigpipe_blocked&) = delete;
  sigpipe_blocked& operator=(const sigpipe_blocked&) = delete;

private:
  bool was_blocked_ = false;
};

class redis_connection {
public:
  redis_connection() = default;
  redis_connection(redis_endpoint endpoint, std::chrono::milliseconds timeout);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;
  redis_connection(redis_connection&& other) noexcept;
  redis_connection& operator=(redis_connection&& other) noexcept;

  const redis_endpoint& endpoint() const { return endpoint_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  bool connected() const { return ctx_ != nullptr; }

  // Connects unless connected: AUTH, SELECT, SCRIPT LOAD of every script.
  // A failure is ec::redis_unavailable with Redis's or the socket's reason.
  caf::error connect();
  void disconnect();

  // Pipelining: queue commands, then read their replies in order. append
  // needs a connection (connect() first); next_reply drops the connection
  // when it is lost (ec::redis_unavailable).
  void append(const std::vector<std::string>& args);
  void append(std::size_t argc, const char* const* argv, const std::size_t* lens);
  caf::error next_reply(redis_reply& out);
  // Sends what append queued without waiting for a reply, so that its round
  // trip overlaps other work; next_reply reads the replies later.
  caf::error send();

  // One command, connecting first. An error reply is a reply; a lost
  // connection is ec::redis_unavailable (`sent`: whether it went out).
  caf::expected<redis_reply> command(const std::vector<std::string>& args, bool* sent = nullptr);
  // Commands pipelined, connecting first: every reply, in order (an error
  // reply is a reply), or the connection's failure.
  caf::expected<std::vector<redis_reply>> pipeline(const std::vector<std::vector<std::string>>& cmds);
  // The EVALSHA call of a script (for append), and the call made at once,
  // loading the script again if Redis lost it.
  std::vector<std::string> evalsha(redis_script s, const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args) const;
  caf::expected<redis_reply> eval(redis_script s, const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args, bool* sent = nullptr);
  // The SHA1 a script was loaded under (for calls pipelined by hand), and
  // loading it again after such a call answered NOSCRIPT.
  const std::string& sha(redis_script s) const { return shas_[static_cast<std::size_t>(s)]; }
  caf::error reload(redis_script s);

  // A second connection of its own (AUTH, SELECT), handed over as a
  // non-blocking socket (for the cache reader, whose multiplexer must never
  // block on connecting).
  caf::expected<int> open_socket() const;

private:
  redis_endpoint endpoint_;
  std::chrono::milliseconds timeout_{1000};
  redisContext* ctx_ = nullptr;
  std::array<std::string, redis_script_count> shas_;
};

}  // namespace wtcache
