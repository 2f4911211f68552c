// One blocking hiredis connection to Redis, as a worker actor owns it:
// connect (AUTH, SELECT, then the scripts are loaded), commands pipelined
// as argv with their replies read in order, and the one loader of the Lua
// scripts (backends/scripts.hpp), which loads a script again when Redis
// answers NOSCRIPT (SCRIPT FLUSH, a restart). Every call blocks for at most
// the timeout; a lost connection is dropped and opened again by the next
// call. Not thread-safe: one owner.
//
// To a Redis Cluster (redis_endpoint::cluster) it is one connection per
// master: the slot map comes from CLUSTER SLOTS of a seed node, each
// command goes to the master of its key's slot (a command must not span
// slots: callers split, by key_slot), every script is loaded on every
// master, and the replies still come back in the order the commands were
// appended. A redirection is followed before its reply is handed out:
// MOVED reloads the slot map and sends the command where it now belongs,
// ASK sends ASKING and the command to the node named, once; TRYAGAIN (a
// multi-key command during a migration) and CLUSTERDOWN are retried with
// backoff, all within the timeout.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
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
  bool connected() const;
  bool cluster() const { return endpoint_.cluster; }
  // Cluster: where redirections followed (MOVED, ASK) and slot map loads
  // are counted (the service's figures); none: not counted.
  void count_into(std::atomic<uint64_t>* redirections, std::atomic<uint64_t>* map_loads) {
    redirections_sink_ = redirections;
    map_loads_sink_ = map_loads;
  }
  // Cluster: the masters of the slot map ("host:port").
  std::vector<std::string> masters() const;
  // A command on every master of the slot map (a single Redis: on it),
  // connecting first: a reply or a failure each, in masters() order.
  std::vector<caf::expected<redis_reply>> on_masters(const std::vector<std::string>& args);

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
  // The same, each command on its own: its reply, or why there is none and
  // whether it went out (so may have run). On a Redis Cluster, a master
  // that fails takes only its own commands with it.
  struct outcome {
    redis_reply reply;
    caf::error error;
    bool sent = false;
  };
  std::vector<outcome> pipeline_each(const std::vector<std::vector<std::string>>& cmds);
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

  // Connections of their own (AUTH, SELECT), handed over as non-blocking
  // sockets (for the cache reader, whose multiplexer must never block on
  // connecting): one Redis's, or one per master of a cluster's slot map
  // with that map (the index of each slot's socket; no_socket for a slot no
  // master serves). The sockets are the caller's to close.
  struct sockets {
    static constexpr uint16_t no_socket = 0xFFFF;
    std::vector<int> fds;
    std::vector<uint16_t> slot_socket;  // cluster only
  };
  caf::expected<sockets> open_sockets();

private:
  struct node {
    node(std::string h, uint16_t p) : host(std::move(h)), port(p) {}
    std::string host;
    uint16_t port = 0;
    redisContext* ctx = nullptr;
    // Cluster: a connect that failed, and why; the node is not tried again
    // for retry_pause (or the timeout, if longer), so that a round's
    // commands to a dead master fail at once rather than each wait for a
    // connect.
    std::chrono::steady_clock::time_point failed_at{};
    caf::error failure;
  };
  static constexpr std::chrono::milliseconds retry_pause{100};
  // A command appended and not answered yet: the node it went to, and for a
  // cluster its arguments (to send it again after a redirection).
  struct in_flight {
    std::size_t node = 0;
    std::vector<std::string> args;
    bool failed = false;  // the node could not be reached: never sent
  };

  caf::error open_node(std::size_t i);
  caf::error load_scripts(std::size_t i);
  caf::error load_map();
  std::size_t node_at(const std::string& host, uint16_t port);
  std::size_t route(std::size_t argc, const char* const* argv, const std::size_t* lens) const;
  void append_to(std::size_t node, std::size_t argc, const char* const* argv,
                 const std::size_t* lens);
  caf::error flush_all();
  // Reads the answer of every command in flight, following redirections:
  // each its own (collect; `each`: follow them even when another command
  // failed), or all into ready_ unless one failed (drain).
  std::vector<outcome> collect(bool each);
  caf::error drain();
  caf::expected<redis_reply> redirected(redis_reply reply, const std::vector<std::string>& args);
  caf::expected<redis_reply> run_on(std::size_t node, const std::vector<std::string>& args);
  void drop_node(std::size_t i);

  redis_endpoint endpoint_;
  std::chrono::milliseconds timeout_{1000};
  std::vector<node> nodes_;           // a single Redis: one
  std::vector<uint16_t> slot_node_;   // a cluster: the master of each slot (empty: no map)
  std::deque<in_flight> in_flight_;
  std::deque<redis_reply> ready_;     // answers read, in order, not handed out yet
  std::array<std::string, redis_script_count> shas_;
  std::atomic<uint64_t>* redirections_sink_ = nullptr;
  std::atomic<uint64_t>* map_loads_sink_ = nullptr;
  // A node failed since the map was read (connect() reads it again).
  bool map_doubted_ = false;
  std::chrono::steady_clock::time_point map_read_at_{};
  static constexpr std::chrono::milliseconds map_recheck{200};
  void redirected_once();
  void map_loaded();
  std::vector<std::size_t> master_nodes() const;
};

}  // namespace wtcache
