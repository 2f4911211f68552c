// The connection actor: one CAF broker per client socket. It parses RESP,
// plans each command (core/commands.hpp), sends reads and writes to the
// shards that own their keys, and writes the replies back in request order,
// however the shards' answers interleave.
//
// Ordering within one connection follows Redis (core/command_order.hpp),
// and where a GET goes is decided by core/read_route.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/actor.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/connection_handle.hpp>


#include "core/acl.hpp"
#include "core/logger_ref.hpp"
#include "core/ascii.hpp"
#include "core/command_order.hpp"
#include "core/commands.hpp"
#include "core/config.hpp"
#include "core/latency.hpp"
#include "core/namespaces.hpp"
#include "core/node_health.hpp"
#include "core/rerun.hpp"
#include "core/resp.hpp"
#include "actors/client_registry.hpp"
#include "actors/worker_directory.hpp"
#include "messages/shard_protocol.hpp"

namespace wtcache {

// What every connection of one listener shares. Immutable after start.
struct front_end {
  std::shared_ptr<const namespace_table> spaces;
  std::shared_ptr<service_metrics> metrics;
  std::shared_ptr<node_health> health;
  std::vector<shard_actor> shards;
  resp::limits parse_limits;
  command_limits limits;
  std::chrono::milliseconds request_timeout{5000};
  // How long a connection waits for a shard's real answer to a write after
  // telling the client "outcome unknown": until then the write's keys (or
  // its barrier) stay held, so the connection's later commands cannot
  // overtake it.
  std::chrono::milliseconds answer_timeout{15000};
  // Cache hits may go straight to a Redis worker (see connection.cpp).
  std::shared_ptr<const worker_directory> directory;
  key_layout redis_keys;
  std::chrono::milliseconds redis_timeout{1000};
  std::size_t max_pipeline = 1024;
  std::size_t max_reply_buffer_bytes = 256 * 1024 * 1024;
  std::chrono::steady_clock::time_point started;
  uint16_t port = 0;
  std::string host = "127.0.0.1";  // the listen address, for CLIENT LIST's laddr
  std::shared_ptr<client_registry> clients = std::make_shared<client_registry>();
  // Users and passwords (core/acl.hpp); the open default user when none is set.
  std::shared_ptr<const access_control> access =
    std::make_shared<access_control>(std::string(), std::vector<user_config>());
  std::size_t maxclients = 10000;         // the listener refuses connections past it
  std::chrono::seconds idle_timeout{0};   // a client idle this long is closed; 0: never
  logger_ref log;  // where it logs (config::logger)
};

// What the configuration decides of the front end. Left to the caller:
// the namespaces, the figures, node health, the shards, the directory and
// the start time.
front_end front_end_from(const config& cfg);

struct connection_state {
  static inline const char* name = "connection";

  std::shared_ptr<const front_end> fe;
  caf::io::connection_handle hdl;
  std::unique_ptr<resp::parser> parser;
  // How much one read may take (actors/connection.cpp, read_size_after).
  std::size_t read_size = 4 * 1024;

  // Replies by request number; sent once all earlier ones are sent.
  uint64_t next_seq = 0;
  uint64_t next_to_send = 0;
  std::map<uint64_t, std::string> ready;
  // Each command not answered yet, in request order: its figures and when
  // it was parsed.
  std::deque<std::pair<command_metrics*, std::chrono::steady_clock::time_point>> started;
  uint64_t close_at = UINT64_MAX;  // QUIT or a protocol error: close after this reply

  // Commands not yet dispatched because an earlier one must finish first.
  struct queued {
    uint64_t seq;
    command_plan plan;
  };
  std::deque<queued> waiting;
  command_order order;  // what is in flight, and what may overtake it
  // Writes not answered by the shard yet; those in `told_unknown` were
  // already answered to the client when their deadline passed.
  std::unordered_set<uint64_t> writes_in_flight, told_unknown;
  // Deadlines of the commands at the shards, by request number. One timer
  // per connection (for the earliest), not one per request: each CAF timer
  // costs the clock thread a wake-up to set and another to cancel.
  // `on_deadline` tells the client (request_timeout); `on_give_up` releases
  // the command's keys if the shard never answers (answer_timeout).
  struct watch {
    std::chrono::steady_clock::time_point deadline, give_up;
    std::function<void()> on_deadline, on_give_up;
    bool told = false;
  };
  std::map<uint64_t, watch> watches;
  bool watchdog_armed = false;
  std::size_t next_redis = 0;  // round robin over the Redis workers
  uint64_t unsent_bytes = 0;  // written to the socket's buffer, not yet sent
  std::chrono::steady_clock::time_point last_drained = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_halt;
  uint64_t client_id = 0;  // in fe->clients
  std::shared_ptr<client_record> me;  // this client's record there
  std::string client_name;
  // Who the client is: null until it authenticates (when a password is set).
  const access_control::user* user = nullptr;
  std::chrono::steady_clock::time_point last_input = std::chrono::steady_clock::now();
  // MULTI ... EXEC: the commands queued, whether one could not be (then
  // EXEC answers EXECABORT), and the keys WATCH saw, at their versions.
  bool in_multi = false;
  bool multi_failed = false;
  std::vector<command_plan> multi_queue;
  std::map<std::string, int64_t> watched;
  // pump() runs one loop at a time: a command that finishes at once
  // (UNWATCH...) asks it to go on instead of calling it again, so a long
  // pipeline of them never deepens the stack.
  rerun pumping;
  bool output_over_limit = false;  // reading halted until the client drains
  bool reading_halted = false;
  bool resume_scheduled = false;
  bool closed = false;
};

// How much a connection's next read may take, after a read of `got` bytes
// with room for `current`: 64 KiB while reads come back full, 16 KiB again
// once one does not (CAF zero-fills the whole buffer before every read).
std::size_t read_size_after(std::size_t current, std::size_t got);

caf::behavior connection(caf::io::stateful_broker<connection_state>* self,
                         caf::io::connection_handle hdl, std::shared_ptr<const front_end> fe);


}  // namespace wtcache
