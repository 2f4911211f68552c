// Calling the typed cache (messages/cache_api.hpp) from code that is not an
// actor. Installed as <wtcache/app/client.hpp>.
//
// Three ways to call the cache:
//   - from an event-based actor of the host's, request the handle directly:
//       self->request(svc->cache(), 6s, wtcache::atom::get::value, key)
//         .then([](const wtcache::cache_value& v) {...}, [](caf::error& e) {...});
//   - from a thread that may block: blocking_client (one per thread);
//   - from code that wants std::future: async_client (any thread).
//
// Every call returns caf::expected: the result, or a caf::error of the
// category "wtcache" (the codes are listed in messages/cache_api.hpp;
// wtcache::client_error_text() renders one as the Redis error line).
// Semantics, promises and costs are those of the matching Redis command:
// a write-through write returns after COMMIT and the cache update (one
// group commit, typically 0.5–3 ms on local disks), a cache-hit read after
// one Redis round trip.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "../messages/cache_api.hpp"

namespace wtcache {

// How long a client waits for an answer by default. The service answers
// every request within its request_timeout (5 s unless configured); this
// is a backstop for a service that is gone.
constexpr std::chrono::milliseconds default_client_timeout{10000};

// Blocking calls, each waiting for its answer. Not thread-safe: it owns a
// caf::scoped_actor, so give each thread its own (they are cheap: one
// mailbox each). Must be destroyed before the actor system.
class blocking_client {
public:
  blocking_client(caf::actor_system& sys, cache_actor cache,
                  std::chrono::milliseconds timeout = default_client_timeout);
  ~blocking_client();
  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  // GET: the value, or std::nullopt when the key is absent.
  caf::expected<std::optional<std::string>> get(std::string key);
  // MGET: one value (or nullopt) per key, in order.
  caf::expected<std::vector<std::optional<std::string>>> mget(std::vector<std::string> keys);
  // SET with options (NX/XX, PX, KEEPTTL, GET).
  caf::expected<set_result> set(std::string key, std::string value, set_options options = {});
  // DEL: how many of the keys existed.
  caf::expected<int64_t> del(std::vector<std::string> keys);
  // INCRBY: the new value.
  caf::expected<int64_t> incrby(std::string key, int64_t delta);
  // PEXPIRE: true if the key exists; ttl <= 0 deletes it.
  caf::expected<bool> expire(std::string key, std::chrono::milliseconds ttl);
  // PTTL: milliseconds left; -1 no expiry, -2 absent.
  caf::expected<int64_t> ttl(std::string key);
  // MULTI/EXEC of writes: one result per op.
  caf::expected<std::vector<txn_result>> transaction(std::vector<txn_op> ops);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The same calls with std::future results. Thread-safe: each call spawns
// a small actor that waits for the answer (a few µs) and fulfils the
// future. Futures are fulfilled even if the service stops meanwhile (with
// an error); the actor system must outlive the calls in flight.
class async_client {
public:
  async_client(caf::actor_system& sys, cache_actor cache,
               std::chrono::milliseconds timeout = default_client_timeout);

  std::future<caf::expected<std::optional<std::string>>> get(std::string key);
  std::future<caf::expected<std::vector<std::optional<std::string>>>>
  mget(std::vector<std::string> keys);
  std::future<caf::expected<set_result>> set(std::string key, std::string value,
                                             set_options options = {});
  std::future<caf::expected<int64_t>> del(std::vector<std::string> keys);
  std::future<caf::expected<int64_t>> incrby(std::string key, int64_t delta);
  std::future<caf::expected<bool>> expire(std::string key, std::chrono::milliseconds ttl);
  std::future<caf::expected<int64_t>> ttl(std::string key);
  std::future<caf::expected<std::vector<txn_result>>> transaction(std::vector<txn_op> ops);

private:
  caf::actor_system* sys_;
  cache_actor cache_;
  std::chrono::milliseconds timeout_;
};

}  // namespace wtcache
