// The cache reader: the node's cache hits, read over one Redis connection
// that CAF's multiplexer thread drives itself, the thread that runs the
// client connections. A hit then costs no hand-off to a worker thread and
// back (a wake-up each way); every HMGET the connections ask for while a
// round is being gathered goes out in one write, and the replies are
// matched back in order.
//
// It connects through a Redis worker: connecting, AUTH and SELECT block, so
// a worker does them and hands over the socket (atom::open). Only once a
// PING has come back does it put itself in the worker directory, where the
// connections find it; until then, and after it loses its connection, they
// read through the Redis workers as before. A request that Redis does not
// answer by its deadline drops the connection: every request on it fails
// (the connections then ask the shards) and it connects again with backoff.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
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

  std::optional<caf::io::connection_handle> link;
  bool verified = false;    // its PING came back: it is in the directory
  unsigned attempt = 0;     // failed connections in a row, for the backoff

  // Requests in the order their commands went out; `entries` fills as the
  // replies come in.
  struct waiting {
    std::size_t keys = 0;  // 0: the PING
    std::vector<cache_entry> entries;
    caf::response_promise promise;
    int64_t deadline = 0;  // steady-clock ns
    std::chrono::steady_clock::time_point asked{};
  };
  std::deque<waiting> waiting;
  std::size_t keys_waiting = 0;                 // over `waiting`
  std::chrono::steady_clock::time_point last_data{};  // bytes last came from Redis
  std::string out;             // commands of this round, not sent yet
  std::size_t unsent = 0;      // bytes in CAF's buffer for the socket
  bool flush_posted = false;
  bool watchdog_armed = false;
  std::unique_ptr<reply_reader> replies = std::make_unique<reply_reader>();
  std::minstd_rand rng{std::random_device{}()};
};

using cache_reader_self = caf::io::stateful_broker<cache_reader_state>;

// Spawn with caf::io::middleman::spawn_broker; stop with an exit message.
caf::behavior cache_reader(cache_reader_self* self, cache_reader_settings cfg);

}  // namespace wtcache
