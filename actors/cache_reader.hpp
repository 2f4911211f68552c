// The cache reader: the node's cache hits, read over Redis connections
// that CAF's multiplexer thread drives itself, the thread that runs the
// client connections. A hit then costs no hand-off to a worker thread and
// back (a wake-up each way); every HMGET the connections ask for while a
// round is being gathered goes out in one write per connection, and the
// replies are matched back in order.
//
// One Redis: one connection. A Redis Cluster: one per master of the slot
// map, each key's read at its slot's master; a read that meets an error
// reply (MOVED, ASK, CLUSTERDOWN...) fails, and its connection asks the
// shards (the workers follow the redirection); after a MOVED the reader
// connects again for the new map, at most once a second.
//
// It connects through a Redis worker: connecting, AUTH and SELECT block, so
// a worker does them and hands over the sockets (atom::open). Only once a
// PING has come back on each does it put itself in the worker directory,
// where the connections find it; until then, and after it loses a
// connection, they read through the Redis workers as before. A request that
// Redis does not answer by its deadline drops the connections: every
// request on them fails (the connections then ask the shards) and it
// connects again with backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <caf/io/broker.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/io/connection_handle.hpp>
#include <caf/response_promise.hpp>


#include "core/logger_ref.hpp"
#include "actors/worker_directory.hpp"
#include "core/backoff.hpp"
#include "core/config.hpp"
#include "core/latency.hpp"
#include "backends/reply_reader.hpp"
#include "messages/cache_protocol.hpp"

namespace wtcache {

// Its connection's name in Redis's CLIENT LIST.
extern const char* const reader_client_name;

struct cache_reader_settings {
  std::shared_ptr<worker_directory> directory;
  std::shared_ptr<service_metrics> metrics;
  std::chrono::milliseconds timeout{1000};  // Redis's, for connecting and each request
  backoff_policy backoff;
  logger_ref log;  // where it logs (config::logger)
};

// The settings the configuration decides. Left to the caller: the worker
// directory and the figures.
cache_reader_settings cache_reader_settings_from(const config& cfg);

struct cache_reader_state {
  static inline const char* name = "cache_reader";

  cache_reader_settings cfg;

  // A read: its entries fill as the replies come in, on any link.
  struct request {
    std::vector<cache_entry> entries;
    std::size_t left = 0;  // replies still to come
    caf::response_promise promise;
    int64_t deadline = 0;  // steady-clock ns
    std::chrono::steady_clock::time_point asked{};
  };
  // One connection: what each of its replies answers, in the order the
  // commands went out (request 0: CLIENT SETNAME, then PING).
  struct link {
    caf::io::connection_handle hdl;
    std::unique_ptr<reply_reader> replies = std::make_unique<reply_reader>();
    std::string out;          // commands of this round, not sent yet
    std::size_t unsent = 0;   // bytes in CAF's buffer for the socket
    struct expect {
      uint64_t request = 0;
      uint32_t key = 0;       // the entry it fills
    };
    std::deque<expect> waiting;
    std::chrono::steady_clock::time_point last_data{};  // bytes last came from Redis
    bool pinged = false;      // its PING came back
  };

  std::vector<link> links;           // empty: not connected
  std::vector<uint16_t> slot_link;   // a cluster: each slot's link; empty: one Redis
  bool verified = false;  // every PING came back: it is in the directory
  std::chrono::steady_clock::time_point connected_at{};  // the sockets came
  unsigned attempt = 0;   // failed connections in a row, for the backoff

  std::map<uint64_t, request> requests;  // by id: the oldest first
  uint64_t next_request = 1;
  std::size_t keys_waiting = 0;          // over `requests`
  bool flush_posted = false;
  bool watchdog_armed = false;
  std::minstd_rand rng{std::random_device{}()};
};

using cache_reader_self = caf::io::stateful_broker<cache_reader_state>;

// Spawn with caf::io::middleman::spawn_broker; stop with an exit message.
caf::behavior cache_reader(cache_reader_self* self, cache_reader_settings cfg);

}  // namespace wtcache
